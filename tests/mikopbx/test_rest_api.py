"""The module's REST API inside MikoPBX Core (issue 9 items 1, 2, 6): Core's own discovery
finds the module's v3 controller, Core's own router and middleware route the page scripts'
URLs to it, and a request runs through Core's BaseRestController, BaseController and its API
worker's job code (WorkerApiCommands::processJobDirect, called in-process where a PBX has a
Redis queue between them) to the module's Processor, which asks the real worker over ZeroMQ.
The module is the package zip (tools/build_package.py), unpacked where Core keeps modules,
so the worker runs on the rig's CPython 3.11 with the bundled pyzmq, as on a PBX.
"""

from __future__ import annotations

import json
import subprocess
import time

from lab import free_port_block as free_port
from placed_module import MODULE, place_module
from rig import Rig

BASE = "/pbxcore/api/v3/module-conference-link/links"


# Core's REST front for one request in a rig process (php/rest-front.php); prints the HTTP
# status and the body.
REST_REQUEST = r"""
[$method, $uri, $body] = [$argv[1], $argv[2], $argv[3] ?? ''];
require_once $argv[4] . '/rig/rest-front.php';
$res = rig_rest_front(Phalcon\Di\Di::getDefault(), $method, $uri, $body);
fwrite(STDOUT, "\n@@REST@@" . json_encode($res));
"""


def rest(rig: Rig, method: str, uri: str, body: dict | None = None) -> tuple[int, dict]:
    res = rig.php_code(REST_REQUEST, method, uri, json.dumps(body) if body is not None else "", rig.inner)
    assert "@@REST@@" in res.stdout, f"{res.stdout}\n{res.stderr}"
    got = json.loads(res.stdout.rpartition("@@REST@@")[2])
    return got["status"], json.loads(got["body"])


def test_core_discovers_the_controller_of_an_enabled_module_only(rig: Rig) -> None:
    place_module(rig, enabled=False)
    discovery = "MikoPBX\\PBXCoreREST\\Lib\\OpenAPI\\ControllerDiscovery"
    code = (f"{discovery}::clearCache();"
            f"return array_values(array_filter({discovery}::discoverAll(true),"
            " fn ($c) => str_starts_with($c, 'Modules\\\\')));")
    assert rig.php_json(code) == []
    rig.php_json(f"$m = MikoPBX\\Common\\Models\\PbxExtensionModules::findFirstByUniqid('{MODULE}');"
                 "$m->disabled = '0'; return $m->save();")
    assert rig.php_json(code) == [f"Modules\\{MODULE}\\Lib\\RestAPI\\Links\\Controller"]


def test_core_routes_the_page_urls_to_the_controller(rig: Rig) -> None:
    place_module(rig)
    got = rig.php_json(r"""
$di = Phalcon\Di\Di::getDefault();
$di->setShared('router', new Phalcon\Mvc\Router(false));
$app = new Phalcon\Mvc\Micro();
$app->setDI($di);
$di->setShared('application', $app);
MikoPBX\PBXCoreREST\Config\RegisterDIServices::init($di);
$out = [];
foreach ([['GET', '/links:getStatus'], ['GET', '/links:ping'], ['POST', '/links/7:dial'], ['POST', '/links/7:hangup'],
          ['POST', '/links:getStatus'], ['GET', '/links/7:dial'], ['POST', '/links/7;x:dial']] as [$m, $tail]) {
    $_SERVER['REQUEST_METHOD'] = $m;
    $router = $app->getRouter();
    $router->handle('/pbxcore/api/v3/module-conference-link' . $tail);
    $route = $router->getMatchedRoute();
    $handler = $route === null ? null : ($app->getHandlers()[$route->getRouteId()] ?? null);
    $out[] = [$m, $tail, $route?->getPattern(), $router->getParams(),
              is_array($handler) ? [$handler[0]->getDefinition(), $handler[1]] : null];
}
return $out;
""")
    ctl = f"Modules\\{MODULE}\\Lib\\RestAPI\\Links\\Controller"
    by = {(m, t): (pattern, params, handler) for m, t, pattern, params, handler in got}
    assert by[("GET", "/links:getStatus")][1] == {"method": "getStatus"}
    assert by[("GET", "/links:getStatus")][2] == [ctl, "handleCustomRequest"]
    assert by[("GET", "/links:ping")][2] == [ctl, "handleCustomRequest"]
    assert by[("POST", "/links/7:dial")][1] == {"id": "7", "method": "dial"}
    assert by[("POST", "/links/7:dial")][2] == [ctl, "handleResourceCustomRequest"]
    assert by[("POST", "/links/7:hangup")][2] == [ctl, "handleResourceCustomRequest"]
    # Routed but refused by Core's BaseRestController (wrong verb), or not routed at all.
    assert by[("POST", "/links:getStatus")][2] == [ctl, "handleCustomRequest"]
    assert by[("POST", "/links/7;x:dial")][0] is None


def test_a_request_through_core_reaches_the_worker(rig: Rig) -> None:
    place_module(rig)
    port = free_port()
    # The config the module renders (its own ConfigRenderer in Core), where
    # ConferenceLinkConf::paths() puts it on a PBX (/etc/custom_modules is per rig session).
    rig.php_json(
        f"$yaml = (new Modules\\{MODULE}\\Lib\\ConfigRenderer())->render("
        "[['id' => '7', 'conference_uniqid' => 'ROOM-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '100']],"
        "['ROOM-1' => '354233'], ['SIP-1' => 'SIP-1'],"
        f"['ami_port' => '{free_port()}', 'ami_username' => 'conflink_t', 'ami_secret' => 'secret12345',"
        f" 'control_endpoint' => 'tcp://127.0.0.1:{port}', 'control_token' => '{'t' * 40}'])->yaml;"
        f"$paths = Modules\\{MODULE}\\Lib\\ConferenceLinkConf::paths();"
        "Modules\\ModuleConferenceLink\\Lib\\AtomicFile::write($paths->configFile(), $yaml);"
        "return $paths->configFile();"
    )

    # Worker down: a fast, clear answer (connection refused), no process started; the status
    # request itself succeeds (200) with result false, an action gets 503.
    status, body = rest(rig, "GET", f"{BASE}:getStatus")
    assert status == 200, body
    assert body["result"] is False
    assert body["data"]["ok"] is False
    assert body["messages"]["error"] == [f"no conflink-worker listening at tcp://127.0.0.1:{port} (connection refused)"]
    status, body = rest(rig, "POST", f"{BASE}/7:hangup")
    assert status == 503, body

    worker = subprocess.Popen(
        ["nsenter", "-t", str(rig._init_pid), "--mount", "--pid", "--root", "--wd",
         "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in rig.env.items()],
         f"{rig.modules_dir}/{MODULE}/bin/conflink-worker", "--config", f"/etc/custom_modules/{MODULE}/conflink.yaml"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            status, body = rest(rig, "GET", f"{BASE}:ping")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200, body
        assert body["result"] is True and body["data"]["ok"] is True

        status, body = rest(rig, "GET", f"{BASE}:getStatus")
        assert status == 200, body
        assert body["data"]["ok"] is True
        assert body["data"]["ami_connected"] is False  # no Asterisk in this test
        assert body["data"]["links"]["7"]["room"] == "354233"

        status, body = rest(rig, "POST", f"{BASE}/7:dial", {"force": False})
        assert status == 422, body  # the worker refuses: room empty / AMI down, in its own words
        assert body["result"] is False and body["messages"]["error"][0] != ""
        status, body = rest(rig, "POST", f"{BASE}/99:hangup")
        assert status == 422, body
        assert body["messages"]["error"] == ["link: no link with id '99'"]
        status, body = rest(rig, "POST", f"{BASE}/7:dial", {"force": True, "seconds": 90000})
        assert status == 400, body
        assert body["messages"]["error"][0].startswith("seconds:")
    finally:
        worker.terminate()
        worker.wait(timeout=10)


def test_admin_pages_route_without_app_module(rig: Rig) -> None:
    """Core's admin router reaches the module's controller by its own module route; nothing
    registers a /module-conference-link/... route that would need App/Module.php."""
    place_module(rig)
    got = rig.php_json(r"""
$_SERVER['REQUEST_METHOD'] = 'POST';
$di = Phalcon\Di\Di::getDefault();
$di->setShared('request', new Phalcon\Http\Request());
(new MikoPBX\Common\Providers\RouterProvider())->register($di);
$router = $di->get('router');
$out = [];
$uri = '/admin-cabinet/module-conference-link/module-conference-link/save';
$router->handle($uri);
$out = [$router->wasMatched(), $router->getNamespaceName(), $router->getControllerName(),
        $router->getActionName(), $router->getModuleName()];
$patterns = array_map(fn ($r) => $r->getPattern(), $router->getRoutes());
return [$out, array_values(array_filter($patterns, fn ($p) => str_starts_with($p, '/module-conference-link')))];
""")
    admin, extra = got
    assert admin == [True, f"Modules\\{MODULE}\\App\\Controllers", "module-conference-link", "save",
                     "admin-cabinet"]
    assert extra == [], "a route for App/Module.php was registered"
    assert not rig.path(f"{rig.modules_dir}/{MODULE}/App/Module.php").exists()
