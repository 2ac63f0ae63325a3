<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\AtomicFile;
use Modules\ModuleConferenceLink\Lib\ConferenceLinkConf;
use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\RestActions;
use Modules\ModuleConferenceLink\Lib\RestAPI\Links\Controller;
use Modules\ModuleConferenceLink\Lib\RestAPI\Links\Processor;
use PHPUnit\Framework\TestCase;
use ReflectionClass;

/**
 * The REST v3 resource as core finds and routes it (the rig runs core's own discovery and
 * router; here the module's side of the contract): where the controller lives, what its
 * attributes say, that the page scripts call exactly those paths, and what the Processor
 * answers. No legacy entry points are left.
 */
final class RestApiTest extends TestCase
{
    private const TOP = __DIR__ . '/../../..';

    /** @return array<string, mixed> named arguments of the controller's attribute */
    private static function attribute(string $short): array
    {
        $attrs = (new ReflectionClass(Controller::class))->getAttributes('MikoPBX\\PBXCoreREST\\Attributes\\' . $short);
        self::assertCount(1, $attrs, "#[{$short}] on the controller");
        return $attrs[0]->getArguments();
    }

    public function testControllerSitsWhereCoreDiscoversModuleControllers(): void
    {
        // ControllerDiscovery / RouterProvider: <module>/Lib/RestAPI/**/*Controller.php whose
        // class is Modules\<ID>\Lib\RestAPI\<path> and carries #[ApiResource].
        $file = (new ReflectionClass(Controller::class))->getFileName();
        self::assertSame(realpath(self::TOP . '/Lib/RestAPI/Links/Controller.php'), $file);
        self::assertSame('Modules\\' . ModulePaths::MODULE_ID . '\\Lib\\RestAPI\\Links\\Controller', Controller::class);
        self::assertSame('MikoPBX\\PBXCoreREST\\Controllers\\BaseRestController', get_parent_class(Controller::class));
        $resource = self::attribute('ApiResource');
        self::assertSame(Processor::class, $resource['processor']);
        self::assertStringStartsWith('/pbxcore/api/v3/module-conference-link/', $resource['path'], 'under the uncamelized module id');
    }

    public function testEveryMappedOperationIsAMethodAndThePagesCallThoseRoutes(): void
    {
        $mapping = self::attribute('HttpMapping');
        $class   = new ReflectionClass(Controller::class);
        $ops     = array_merge(...array_values($mapping['mapping']));
        sort($ops);
        self::assertSame([], array_diff(['dial', 'getStatus', 'hangup', 'ping'], $ops));
        $actions = RestActions::ACTIONS;
        sort($actions);
        self::assertSame($ops, $actions, 'RestActions handles exactly the routed operations');
        foreach ($ops as $op) {
            self::assertTrue($class->hasMethod($op) && $class->getMethod($op)->isPublic(), $op);
            self::assertContains($op, $mapping['customMethods']);
            $resourceLevel = in_array($op, $mapping['resourceLevelMethods'], true);
            self::assertSame($resourceLevel ? ['id'] : [], array_map(static fn ($p) => $p->getName(), $class->getMethod($op)->getParameters()), $op);
            self::assertNotSame($resourceLevel, in_array($op, $mapping['collectionLevelMethods'], true), $op);
        }
        self::assertSame('[A-Za-z0-9_]{1,32}', $mapping['idPattern'], 'the link id pattern of the worker and the validator');

        // The page scripts build their URLs from the same path (conference-link-status.js).
        $js = (string)file_get_contents(self::TOP . '/public/assets/js/src/conference-link-status.js');
        self::assertMatchesRegularExpression('/const REST_URL = \'([^\']+)\';/', $js);
        preg_match('/const REST_URL = \'([^\']+)\';/', $js, $m);
        self::assertSame(self::attribute('ApiResource')['path'], $m[1]);
        self::assertStringContainsString('`${REST_URL}:getStatus`', $js);
        self::assertContains('getStatus', $mapping['mapping']['GET']);
        preg_match("/const CONTROL_ACTIONS = \\[([^\\]]*)\\];/", $js, $c);
        self::assertSame($mapping['mapping']['POST'], array_map(static fn (string $a): string => trim($a, " '"), explode(',', $c[1])));
    }

    public function testResourceCarriesAclAndOpenApiText(): void
    {
        $source = (string)file_get_contents(self::TOP . '/Lib/RestAPI/Links/Controller.php');
        // Same requirements as core's own v3 controllers: local callers and Bearer tokens (JWT
        // of a logged-in admin, or an API key); non-admin roles go through core's ACL by path.
        self::assertMatchesRegularExpression("/#\\[ResourceSecurity\\('module_conference_link_links', requirements: \\[SecurityType::LOCALHOST, SecurityType::BEARER_TOKEN\\]\\)\\]/", $source);
        $class = new ReflectionClass(Controller::class);
        foreach (RestActions::ACTIONS as $op) {
            $ops = $class->getMethod($op)->getAttributes('MikoPBX\\PBXCoreREST\\Attributes\\ApiOperation');
            self::assertCount(1, $ops, $op);
            self::assertNotSame('', $ops[0]->getArguments()['summary']);
            self::assertSame(1, preg_match('/^[a-z][A-Za-z]+$/', $ops[0]->getArguments()['operationId']), $op);
        }
    }

    public function testProcessorAnswersInCoresShape(): void
    {
        $dir   = Support::tempDir('rest');
        $paths = new ModulePaths($dir, "{$dir}/etc", "{$dir}/run", "{$dir}/log");
        $free  = stream_socket_server('tcp://127.0.0.1:0');
        self::assertIsResource($free);
        $endpoint = 'tcp://' . stream_socket_get_name($free, false);
        fclose($free);
        AtomicFile::write($paths->configFile(), (new ConfigRenderer())->render([], [], [], [
            'ami_username' => 'u', 'ami_secret' => 'secret12345', 'control_endpoint' => $endpoint, 'control_token' => 't0ken',
        ])->yaml);
        ConferenceLinkConf::usePaths($paths);
        try {
            $unknown = Processor::callBack(['action' => 'reboot', 'data' => []]);
            self::assertFalse($unknown->success);
            self::assertSame(400, $unknown->httpCode);
            self::assertSame('reboot', $unknown->function);
            self::assertStringContainsString('action: unknown "reboot"', $unknown->messages['error'][0]);

            // Nothing listens on the configured endpoint.
            $down = Processor::callBack(['action' => 'getStatus', 'data' => ['httpMethod' => 'GET']]);
            self::assertFalse($down->success);
            self::assertSame(200, $down->httpCode, 'a status of a worker that does not answer is still a status');
            self::assertFalse($down->data['ok']);
            self::assertSame("no conflink-worker listening at {$endpoint} (connection refused)", $down->messages['error'][0]);
        } finally {
            ConferenceLinkConf::usePaths(null);
            Support::removeAll();
        }
    }

    public function testNoLegacyEntryPointsAreLeft(): void
    {
        self::assertFileDoesNotExist(self::TOP . '/App/Module.php', 'core would route to it with a dispatcher lacking its SecurityPlugin');
        $hits = [];
        $it   = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator(realpath(self::TOP), \FilesystemIterator::SKIP_DOTS));
        foreach ($it as $file) {
            $path = (string)$file;
            if (preg_match('~/(\.git|\.venv|node_modules|dist|tests)/~', $path) === 1 || preg_match('/\.(php|js|volt)$/', $path) !== 1) {
                continue;
            }
            $text = (string)file_get_contents($path);
            foreach (['moduleRestAPICallback', '/pbxcore/api/modules/', 'App\\Module'] as $needle) {
                if (str_contains($text, $needle) && !str_contains($path, '/Lib/ConferenceLinkConf.php')) {
                    $hits[] = "{$needle} in {$path}";
                }
            }
        }
        self::assertSame([], $hits);
        self::assertFalse(method_exists(ConferenceLinkConf::class, 'moduleRestAPICallback'));
    }
}
