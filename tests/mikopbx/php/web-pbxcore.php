<?php

/*
 * The rig's stand-in for the front of Core's REST API (/pbxcore/*), for the admin pages.
 * On a PBX nginx hands /pbxcore/ to Core's REST application, which queues each request in
 * Redis for WorkerApiCommands, and nchan carries events to the browser. Neither the REST
 * entry point nor nchan is in Core's repository, so the rig answers here — and where a request
 * does real work, it runs the same Core code the worker would run:
 *
 *   POST /pbxcore/api/v3/auth:refresh           a token for Core's TokenManager: a real JWT
 *                                               from Core's JWTHelper (admin role), which
 *                                               Core's REST middleware validates
 *   *    /pbxcore/api/modules/<ID>/<action>     Core's PbxExtensionsProcessor::callBack, i.e.
 *                                               a module's legacy moduleRestAPICallback
 *   *    /pbxcore/api/v3/module-<name>/…        Core's REST front (rest-front.php): modules'
 *                                               v3 controllers, routed and run by Core
 *   POST /pbxcore/api/v3/modules/<ID>:enable    Core's EnableModuleAction / DisableModuleAction
 *   POST /pbxcore/api/v3/modules/<ID>:disable   (PbxExtensionState, the module's hooks)
 *   advice:getList, license:sendPBXMetrics,     Core's background calls for features the rig
 *   user-page-tracker:pageView|pageLeave        lacks: an empty success
 *   POST /pbxcore/api/nchan/pub/<channel>       nchan's publish: the message is appended to
 *                                               <session>/nchan/<channel>.jsonl; the browser test
 *                                               plays nchan's subscriber side (a routed WebSocket)
 * Anything else answers 404, which the browser tests count as a failure.
 */

declare(strict_types=1);

use MikoPBX\PBXCoreREST\Lib\Modules\DisableModuleAction;
use MikoPBX\PBXCoreREST\Lib\Modules\EnableModuleAction;
use MikoPBX\PBXCoreREST\Lib\PbxExtensionsProcessor;
use MikoPBX\PBXCoreREST\Lib\PBXApiResult;

/** @param array<string, mixed> $body */
$reply = static function (int $status, array $body): void {
    http_response_code($status);
    header('Content-Type: application/json; charset=utf-8');
    echo json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
};
$fromResult = static function (PBXApiResult $res) use ($reply): void {
    $reply(200, $res->getResult());
};

$session = json_decode((string)file_get_contents(__DIR__ . '/session.json'), true);
$path = (string)parse_url((string)$_SERVER['REQUEST_URI'], PHP_URL_PATH);
$method = (string)($_SERVER['REQUEST_METHOD'] ?? 'GET');
$input = (string)file_get_contents('php://input');


// Core's own background calls of every admin page, for features the rig has no part of
// (system advice, licence metrics, page-view tracking): answered "nothing to report".
if (in_array($path, ['/pbxcore/api/v3/advice:getList', '/pbxcore/api/v3/license:sendPBXMetrics',
    '/pbxcore/api/v3/user-page-tracker:pageView', '/pbxcore/api/v3/user-page-tracker:pageLeave'], true)) {
    $reply(200, ['result' => true, 'data' => [], 'messages' => []]);
    return;
}

if (preg_match('#^/pbxcore/api/nchan/pub/([A-Za-z0-9_-]+)$#', $path, $m) === 1 && $method === 'POST') {
    $dir = $session['inner'] . '/nchan';
    if (!is_dir($dir)) {
        mkdir($dir, 0755, true);
    }
    $message = json_decode($input, true);
    file_put_contents("{$dir}/{$m[1]}.jsonl", json_encode($message, JSON_UNESCAPED_SLASHES) . "\n", FILE_APPEND | LOCK_EX);
    http_response_code(201);
    echo 'queued';
    return;
}

// The providers of Core's REST application (PBXCoreREST\Config\RegisterDIServices, in its order)
// but its router and dispatcher, which need the Micro application (rest-front.php adds those):
// Enable/DisableModuleAction need the module DB connections, the event bus and the REST client.
$di = new Phalcon\Di\FactoryDefault();
require_once $session['core'] . '/src/Common/Config/ClassLoader.php';
foreach ([
    'Common\SentryErrorHandlerProvider', 'Common\WhoopsErrorHandlerProvider', 'Common\LoggerAuthProvider',
    'Common\LoggerProvider', 'Common\RegistryProvider', 'Common\ModelsAnnotationsProvider',
    'Common\ModelsMetadataProvider', 'Common\MainDatabaseProvider', 'Common\CDRDatabaseProvider',
    'Common\RecordingStorageDatabaseProvider', 'Common\ModulesDBConnectionsProvider', 'Common\RedisClientProvider',
    'Common\ManagedCacheProvider', 'Common\MutexProvider', 'Common\BeanstalkConnectionModelsProvider',
    'Common\PBXConfModulesProvider', 'PBXCoreREST\ResponseProvider', 'PBXCoreREST\RequestProvider',
    'PBXCoreREST\PublicEndpointsRegistryProvider', 'Common\CryptProvider', 'Common\AclProvider',
    'Common\MessagesProvider', 'Common\LanguageProvider', 'Common\TranslationProvider',
    'Common\PBXCoreRESTClientProvider', 'Common\EventBusProvider',
] as $short) {
    [$area, $name] = explode('\\', $short);
    $provider = "MikoPBX\\{$area}\\Providers\\{$name}";
    $di->remove($provider::SERVICE_NAME);
    (new $provider())->register($di);
}
$di->setShared('modelsEventFactory', Phalcon\Db\Event\Factory::class);

if ($path === '/pbxcore/api/v3/auth:refresh') {
    // A real access token from Core's JWTHelper, as Core's RefreshAction issues it for the
    // logged-in admin: Core's REST AuthenticationMiddleware checks the pages' Bearer header.
    $token = MikoPBX\PBXCoreREST\Lib\Auth\JWTHelper::generate(
        ['userId' => 'admin', 'role' => MikoPBX\Common\Providers\AclProvider::ROLE_ADMINS, 'language' => 'en']
    );
    $reply(200, ['result' => true, 'data' => ['accessToken' => $token, 'expiresIn' => 900]]);
    return;
}

if (preg_match('#^/pbxcore/api/modules/([A-Za-z0-9_]+)/([A-Za-z0-9_]+)$#', $path, $m) === 1) {
    $json = json_decode($input, true);
    $data = array_merge($_GET, $_POST, is_array($json) ? $json : []);
    // What Core's REST controller queues for WorkerApiCommands (BaseController::prepareRequestMessage).
    $fromResult(PbxExtensionsProcessor::callBack([
        'processor' => PbxExtensionsProcessor::class,
        'data' => $data,
        'action' => $m[2],
        'module' => $m[1],
        'input' => $input,
        'REQUEST_METHOD' => $method,
        'httpMethod' => $method,
        'async' => false,
        'asyncChannelId' => '',
    ]));
    return;
}

if (preg_match('#^/pbxcore/api/v3/modules/([A-Za-z0-9_]+):(enable|disable)$#', $path, $m) === 1 && $method === 'POST') {
    $channel = (string)($_SERVER['HTTP_X_ASYNC_RESPONSE_CHANNEL_ID'] ?? '');
    // The worker runs these under a Redis mutex against concurrent installs; the rig's
    // browser test is the only client, so the unlocked inner step is called.
    $res = $m[2] === 'enable'
        ? EnableModuleAction::enableModule($m[1], $channel)
        : DisableModuleAction::disableModule($m[1], '', '', $channel);
    $fromResult($res);
    return;
}

// Modules' REST v3 resources (e.g. ModuleConferenceLink's /pbxcore/api/v3/module-conference-link/links):
// Core's REST front with Core's router, middleware, controllers and API worker job code.
if (preg_match('#^/pbxcore/api/v3/module-[a-z0-9-]+/#', $path) === 1) {
    require_once __DIR__ . '/rest-front.php';
    $res = rig_rest_front($di, $method, (string)$_SERVER['REQUEST_URI'], $input);
    http_response_code($res['status']);
    header('Content-Type: application/json; charset=utf-8');
    echo $res['body'];
    return;
}

$reply(404, ['result' => false, 'data' => [], 'messages' => ['error' => ["the rig does not serve {$method} {$path}"]]]);
