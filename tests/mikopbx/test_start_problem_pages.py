"""A worker that cannot start says why, on the admin pages (issue 9 item 8), inside MikoPBX Core.

The module zip is installed and enabled through Core's own code; its bundled libzmq is taken
away first, as on a PBX where the native library cannot load. Core starts the module's
supervisor (Lib/WorkerConferenceLinkPy → Lib/ChildSupervisor); the packaged worker's
self-check fails; the supervisor records its words; the list page and the link page poll
status through Core's REST front (Core's router, middleware, the module's v3 controller and
Core's API-worker job code) and show those words, not "the worker does not answer". The
headless browser is Debian's Chromium (browser/chromium.py), the pages Core's admin application
(browser/adminsite.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser.adminsite import MODULE_URL, AdminSite, free_port
from browser.chromium import browser, screenshot
from rig import REPO, Rig, build_module_zip

MODULE = "ModuleConferenceLink"


@pytest.fixture(scope="module")
def module_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_module_zip(REPO, tmp_path_factory.mktemp("zip"))


def test_list_and_link_pages_show_the_self_checks_words(rig: Rig, module_zip: Path) -> None:
    res = rig.admin("install", rig.upload(module_zip))
    assert res["success"], res
    libs = rig.path(f"{rig.module_dir}/python-worker/vendor/linux-x86_64/pyzmq.libs")
    removed = [p.name for p in libs.glob("libzmq*.so*")]
    assert removed, "the package bundles libzmq"
    for name in removed:
        (libs / name).unlink()
    # The rig shares the host's network: keep the control port clear of other tests' workers.
    rig.php_json(
        f"$s = Modules\\{MODULE}\\Models\\ConferenceLinkSettings::findFirst(); $s->control_port = '{free_port()}';"
        "return $s->save();"
    )
    room = rig.add_room("3201", "Board room")
    provider = rig.add_provider("Far PBX")
    link_id = rig.php_json(
        f"$l = new Modules\\{MODULE}\\Models\\ConferenceLinks(); $l->conference_uniqid = '{room['uniqid']}';"
        f"$l->provider_uniqid = '{provider}'; $l->dst_number = '5550100'; $l->enabled = '1';"
        "if (!$l->save()) { throw new RuntimeException(implode('; ', $l->getMessages())); }"
        "return (int)$l->id;"
    )
    assert rig.admin("enable")["success"]

    problem_file = rig.path(f"/var/run/custom_modules/{MODULE}/conflink-worker.start-problem")
    deadline = time.monotonic() + 60
    while not problem_file.exists():
        assert time.monotonic() < deadline, f"no start problem recorded; processes: {rig.processes()}"
        time.sleep(0.2)
    words = problem_file.read_text()
    assert "conflink self-check: FAILED" in words and removed[0] in words, words
    # Each failed attempt rewrites the record (a new file): count them for a while. Core's
    # supervisor backs off (1, 2, 5 … s between attempts), it does not spin.
    writes, t_end = {problem_file.stat().st_mtime_ns}, time.monotonic() + 6.0
    while time.monotonic() < t_end:
        try:
            writes.add(problem_file.stat().st_mtime_ns)
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    assert 2 <= len(writes) <= 5, f"{len(writes)} start attempts in about 6 s"

    with AdminSite(rig) as site, browser(site.base_url) as b:
        # Logged in as on a PBX: Core's AssetProvider adds the logged-in scripts (accordion…)
        # for a request whose refreshToken cookie decrypts (Core's crypt service).
        token = rig.php_json("$di = Phalcon\\Di\\Di::getDefault();"
                             " (new MikoPBX\\Common\\Providers\\CryptProvider())->register($di);"
                             " return $di->getShared('crypt')->encryptBase64('rig-admin');")
        page = b.page(cookies=[{"name": "refreshToken", "value": token}])
        page.goto(f"{MODULE_URL}/index")
        message = page.locator("#conflink-worker-message")
        message.wait_for(state="visible")
        page.wait_for_function(
            "() => document.querySelector('#conflink-worker-message').textContent.includes('cannot start')")
        text = message.inner_text()
        assert text.startswith("The worker cannot start: conflink self-check: FAILED"), text
        assert removed[0] in text, text
        screenshot(page, "start-problem-index")

        page.goto(f"{MODULE_URL}/modify/{link_id}")
        page.wait_for_function(
            "() => (document.querySelector('#conflink-status-message') || {}).textContent?.includes('cannot start')")
        text = page.locator("#conflink-status-message").inner_text()
        assert text.startswith("The worker cannot start: conflink self-check: FAILED"), text
        assert "zmq (pyzmq, bundled in python-worker/vendor/linux-x86_64)" in text, text
        assert page.locator("#conflink-call-now").is_disabled()
        page.locator("#conflink-status-message").scroll_into_view_if_needed()
        screenshot(page, "start-problem-modify")
        # The polls went through Core's REST front and succeeded; nothing else went wrong.
        assert b.problems() == [], b.problems()
        assert site.php_problems() == [], site.php_problems()
