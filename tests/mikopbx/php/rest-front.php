<?php

/*
 * Core's REST front (what sites/pbxcore/index.php does on a PBX) for one request, on the DI of
 * the calling rig process: a Micro application with Core's PBXCoreREST RegisterDIServices —
 * Core's RouterProvider (routes of Core's and enabled modules' controllers, found by their
 * attributes), AuthenticationMiddleware, BaseRestController, BaseController — and one stand-in:
 * the Redis queue between the HTTP side and the API worker. Pushing a request onto it runs Core's
 * own job code of WorkerApiCommands (processJobDirect) in this process, which stores the reply
 * where the HTTP side polls for it. Used by web-pbxcore.php (module REST resources for the admin
 * pages) and by test_rest_api.py.
 */

declare(strict_types=1);

use MikoPBX\Common\Providers\RedisClientProvider;
use MikoPBX\PBXCoreREST\Workers\WorkerApiCommands;

final class RigInlineApiQueue extends \Redis
{
    public static ?object $worker = null;

    public function rPush(string $key, mixed ...$values): int
    {
        $n = parent::rPush($key, ...$values);
        if ($key === WorkerApiCommands::REDIS_API_QUEUE) {
            foreach ($values as $value) {
                $this->lPop($key);
                $job = new ReflectionMethod(self::$worker, 'processJobDirect');
                $job->invoke(self::$worker, 'job-' . uniqid(), (string)$value);
            }
        }
        return $n;
    }
}

/**
 * @return array{status: int, body: string}
 */
function rig_rest_front(Phalcon\Di\DiInterface $di, string $method, string $uri, string $body): array
{
    $_SERVER['REQUEST_METHOD'] = $method;
    $_SERVER['REMOTE_ADDR'] ??= '127.0.0.1';
    $_SERVER['REQUEST_URI'] = $uri;
    // nginx's FastCGI parameters always carry CONTENT_TYPE (empty for a GET).
    $_SERVER['CONTENT_TYPE'] ??= $body === '' ? '' : 'application/json';
    $di->setShared('router', new Phalcon\Mvc\Router(false));
    $app = new Phalcon\Mvc\Micro();
    $app->setDI($di);
    $di->setShared('application', $app);
    MikoPBX\PBXCoreREST\Config\RegisterDIServices::init($di);
    if ($body !== '') {
        // php://input cannot be refilled from PHP: hand the body to Core's Request.
        (new ReflectionProperty(Phalcon\Http\Request::class, 'rawBody'))->setValue($di->getShared('request'), $body);
    }
    $queue  = new RigInlineApiQueue();
    $worker = (new ReflectionClass(WorkerApiCommands::class))->newInstanceWithoutConstructor();
    $worker->redis = $queue;
    RigInlineApiQueue::$worker = $worker;
    $di->setShared(RedisClientProvider::SERVICE_NAME, $queue);
    ob_start();
    $app->handle((string)parse_url($uri, PHP_URL_PATH));
    $out = (string)ob_get_clean();

    return ['status' => http_response_code() ?: 200, 'body' => $out];
}
