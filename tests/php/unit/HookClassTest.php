<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Common\Models\Providers;
use MikoPBX\Common\Models\Sip;
use MikoPBX\Core\Workers\Cron\WorkerSafeScriptsCore;
use MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions\ReloadManagerAction;
use MikoPBX\Core\Workers\WorkerModelsEvents;
use MikoPBX\Modules\Models\ModulesModelsBase;
use MikoPBX\Modules\PbxExtensionUtils;
use MikoPBX\Core\System\System;
use Modules\ModuleConferenceLink\Lib\ConferenceLinkConf;
use Modules\ModuleConferenceLink\Lib\ConfigService;
use Modules\ModuleConferenceLink\Lib\Credentials;
use Modules\ModuleConferenceLink\Lib\ManagerConfBuilder;
use Modules\ModuleConferenceLink\Lib\WorkerConferenceLinkPy;
use Modules\ModuleConferenceLink\Models\ConferenceLinks;
use Modules\ModuleConferenceLink\Models\ConferenceLinkSettings;
use PHPUnit\Framework\TestCase;

/**
 * The thin Phalcon-facing classes against the stand-ins in tests/php/stubs: wiring only.
 */
final class HookClassTest extends TestCase
{
    private string $dir = '';

    protected function setUp(): void
    {
        ModulesModelsBase::$rows = [];
        WorkerModelsEvents::$invoked = [];
        $dir = Support::tempDir('hook');
        PbxExtensionUtils::$modulesDir = "{$dir}/modules";
        System::$logDir = "{$dir}/log";
        $this->dir = $dir;
        ConferenceLinkConf::usePaths(new \Modules\ModuleConferenceLink\Lib\ModulePaths(
            "{$dir}/modules/ModuleConferenceLink", "{$dir}/etc", "{$dir}/run", "{$dir}/log"
        ));
        ModulesModelsBase::$rows[ConferenceLinkSettings::class] = [[
            'id' => 1, 'ami_username' => 'conflink_0a1b2c3d', 'ami_secret' => str_repeat('ab', 16),
            'control_token' => str_repeat('cd', 24), 'control_port' => '17391',
        ]];
        ModulesModelsBase::$rows[ConferenceRooms::class] = [['id' => '1', 'uniqid' => 'CONFERENCE-1', 'extension' => '354233']];
        ModulesModelsBase::$rows[Sip::class] = [
            ['uniqid' => 'SIP-1', 'type' => 'friend', 'disabled' => '0', 'registration_type' => 'inbound', 'username' => 'trunk1'],
        ];
        ModulesModelsBase::$rows[ConferenceLinks::class] = [[
            'id' => '4', 'conference_uniqid' => 'CONFERENCE-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '0354233',
        ]];
        PbxSettings::$values['AMIPort'] = '5039';
    }

    protected function tearDown(): void
    {
        ConferenceLinkConf::usePaths(null);
        Support::removeAll();
    }

    public function testPbxPaths(): void
    {
        ConferenceLinkConf::usePaths(null);
        $p = ConferenceLinkConf::paths();
        self::assertSame("{$this->dir}/modules/ModuleConferenceLink", $p->moduleDir);
        self::assertSame('/etc/custom_modules/ModuleConferenceLink/conflink.yaml', $p->configFile());
        self::assertSame("{$this->dir}/log/ModuleConferenceLink/conflink-worker.log", $p->workerLog());
    }

    public function testManagerConfHasTheModuleUser(): void
    {
        $conf = (new ConferenceLinkConf())->generateManagerConf();
        self::assertStringStartsWith("[conflink_0a1b2c3d]\nsecret=" . str_repeat('ab', 16) . "\n", $conf);
        self::assertStringContainsString("deny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\n", $conf);
        self::assertStringContainsString("read=system,call,user,dtmf\nwrite=originate,call,reporting\n", $conf);
        foreach (ManagerConfBuilder::EVENTS as $event) {
            self::assertStringContainsString("eventfilter=Event: {$event}\n", $conf);
        }
        self::assertDoesNotMatchRegularExpression('/=all\b/', $conf);
    }

    public function testManagerConfWithoutCredentialsWritesNothing(): void
    {
        ModulesModelsBase::$rows[ConferenceLinkSettings::class] = [];
        self::assertSame('', (new ConferenceLinkConf())->generateManagerConf());
    }

    public function testWorkerRegistration(): void
    {
        self::assertSame(
            [['type' => WorkerSafeScriptsCore::CHECK_BY_PID_NOT_ALERT, 'worker' => WorkerConferenceLinkPy::class]],
            (new ConferenceLinkConf())->getModuleWorkers()
        );
    }

    public function testRenderUsesCoreData(): void
    {
        $yaml = (new ConfigService(ConferenceLinkConf::paths()))->render()->yaml;
        self::assertStringContainsString("  port: 5039\n", $yaml);
        self::assertStringContainsString('  endpoint: "tcp://127.0.0.1:17391"', $yaml);
        self::assertStringContainsString('    endpoint: "trunk1"', $yaml);
        self::assertStringContainsString('    number: "0354233"', $yaml);
    }

    public function testSettingsChangeReloadsManagerAndOtherModelsAreIgnored(): void
    {
        $conf = new ConferenceLinkConf();
        $conf->modelsEventChangeData(['model' => 'MikoPBX\\Common\\Models\\Users', 'recordId' => '1']);
        $conf->modelsEventChangeData(['model' => '', 'action' => 'invokeAction']);
        $conf->modelsEventChangeData('garbage');
        self::assertSame([], WorkerModelsEvents::$invoked);
        self::assertFileDoesNotExist(ConferenceLinkConf::paths()->configFile());
        $conf->modelsEventChangeData(['model' => ConferenceLinkSettings::class, 'recordId' => '1']);
        self::assertSame([ReloadManagerAction::class], WorkerModelsEvents::$invoked);
        // The config follows at the end of the batch (after core reloaded the AMI users).
        self::assertFileDoesNotExist(ConferenceLinkConf::paths()->configFile());
        $conf->modelsEventNeedReload([ReloadManagerAction::class => []]);
        // Written for a cold start even though no worker answered the push.
        self::assertStringContainsString('username: "conflink_0a1b2c3d"', (string)file_get_contents(ConferenceLinkConf::paths()->configFile()));
        self::assertSame(0600, fileperms(ConferenceLinkConf::paths()->configFile()) & 0777);
    }

    public function testRelationsRestrictDeletingUsedRoomsAndProviders(): void
    {
        $room = new ConferenceRooms();
        ConferenceLinks::getDynamicRelations($room);
        self::assertSame('uniqid', $room->stubRelations[0][0]);
        self::assertSame(ConferenceLinks::class, $room->stubRelations[0][1]);
        self::assertSame('conference_uniqid', $room->stubRelations[0][2]);
        self::assertSame(1, $room->stubRelations[0][3]['foreignKey']['action']);
        self::assertSame(ConferenceLinks::class, self::blockingAliasCurrentCore($room->stubRelations, 0));
        self::assertSame(ConferenceLinks::class, self::blockingAliasOlderCore($room->stubRelations, 0));

        $provider = new Providers();
        ConferenceLinks::getDynamicRelations($provider);
        self::assertSame(['uniqid', ConferenceLinks::class, 'provider_uniqid'], array_slice($provider->stubRelations[0], 0, 3));
        self::assertSame(1, $provider->stubRelations[0][3]['foreignKey']['action']);
        self::assertSame(ConferenceLinks::class, self::blockingAliasCurrentCore($provider->stubRelations, 0));
        self::assertSame(ConferenceLinks::class, self::blockingAliasOlderCore($provider->stubRelations, 0));

        $sip = new Sip();
        ConferenceLinks::getDynamicRelations($sip);
        self::assertSame([], $sip->stubRelations);
    }

    /**
     * The alias ModelsBase::onValidationFails (core since 2025-10) ends up calling getRelated()
     * with: the message, read as a class name, must be a relation's referenced model.
     *
     * @param list<array{0: string, 1: string, 2: string, 3: array}> $relations
     */
    private static function blockingAliasCurrentCore(array $relations, int $i): ?string
    {
        $message = $relations[$i][3]['foreignKey']['message'];
        $parts   = explode('Common\\Models\\', $message);
        $class   = count($parts) === 2 ? 'MikoPBX\\Common\\Models\\' . $parts[1] : $message;
        foreach ($relations as $relation) {
            if ($relation[1] === $class) {
                return $relation[3]['alias'] ?? null;
            }
        }

        return null; // core throws "Error on models relationship"
    }

    /**
     * The alias older cores (2020 to 2025-10) pass to getRelated(): the message itself; it must
     * be an existing alias.
     *
     * @param list<array{0: string, 1: string, 2: string, 3: array}> $relations
     */
    private static function blockingAliasOlderCore(array $relations, int $i): ?string
    {
        $message = $relations[$i][3]['foreignKey']['message'];
        $parts   = explode('Common\\Models\\', $message);
        $alias   = count($parts) === 2 ? $parts[1] : $message;
        foreach ($relations as $relation) {
            if (($relation[3]['alias'] ?? null) === $alias) {
                return $alias;
            }
        }

        return null;
    }

    public function testModelAnnotationsCoverEveryColumn(): void
    {
        $source = file_get_contents(dirname(__DIR__, 3) . '/Models/ConferenceLinks.php');
        foreach (\Modules\ModuleConferenceLink\Lib\LinkValidator::FIELDS as $column) {
            self::assertMatchesRegularExpression('/@Column\([^)]*\)\s*\*\/\s*public [^$]*\$' . $column . '\b/', $source, $column);
        }
        foreach (\Modules\ModuleConferenceLink\Lib\LinkValidator::DEFAULTS as $column => $default) {
            self::assertMatchesRegularExpression('/default="' . preg_quote($default, '/') . '"\)\s*\*\/\s*public [^$]*\$' . $column . '\b/', $source, $column);
        }
    }

    public function testNoLegacyRestCallbackAndTheSaveIsExemptFromTheBodyScan(): void
    {
        self::assertFalse(method_exists(ConferenceLinkConf::class, 'moduleRestAPICallback'), 'the REST API is Lib/RestAPI, found by core');
        self::assertSame(
            ['/admin-cabinet/module-conference-link/module-conference-link/save' => ['body-scan']],
            (new ConferenceLinkConf())->getWafExemptions()
        );
    }

    public function testCredentialsAreKeptWhenGoodAndReplacedWhenNot(): void
    {
        $good = ['ami_username' => 'conflink_0a1b2c3d', 'ami_secret' => str_repeat('ab', 16), 'control_token' => str_repeat('cd', 24), 'control_port' => '17391'];
        self::assertSame($good, Credentials::complete($good));
        $fresh = Credentials::complete(['ami_username' => "x\n", 'ami_secret' => 'short', 'control_token' => 'a b', 'control_port' => '0']);
        self::assertMatchesRegularExpression('/^conflink_[0-9a-f]{8}$/', $fresh['ami_username']);
        self::assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $fresh['ami_secret']);
        self::assertMatchesRegularExpression('/^[0-9a-f]{48}$/', $fresh['control_token']);
        self::assertSame('7391', $fresh['control_port']);
        self::assertNotSame(Credentials::newSecret(), Credentials::newSecret());
        self::assertNotSame(Credentials::complete([])['ami_secret'], Credentials::complete([])['ami_secret']);
    }

    public function testManagerSectionRefusesUnsafeValues(): void
    {
        foreach ([['a]', 'abcdefgh12'], ['ok', 'abc;defgh'], ['ok', "abcdefgh\nread=all"], ['ok', 'short']] as [$u, $s]) {
            try {
                ManagerConfBuilder::section($u, $s);
                self::fail("accepted {$u} / {$s}");
            } catch (\InvalidArgumentException $e) {
                self::assertMatchesRegularExpression('/^ami\.(username|secret)/', $e->getMessage());
            }
        }
    }
}
