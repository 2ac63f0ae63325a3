<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Common\Models\Providers;
use MikoPBX\Common\Models\Sip;
use MikoPBX\Core\System\System;
use MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions\ReloadManagerAction;
use MikoPBX\Core\Workers\WorkerModelsEvents;
use MikoPBX\Modules\Models\ModulesModelsBase;
use MikoPBX\Modules\PbxExtensionUtils;
use Modules\ModuleConferenceLink\Lib\ConferenceLinkConf;
use Modules\ModuleConferenceLink\Lib\ConfigBatch;
use Modules\ModuleConferenceLink\Lib\ModelChange;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Models\ConferenceLinks;
use Modules\ModuleConferenceLink\Models\ConferenceLinkSettings;
use PHPUnit\Framework\TestCase;

/**
 * One push per WorkerModelsEvents batch, through the module's hooks as core calls them:
 * modelsEventChangeData once per record message, modelsEventNeedReload once per batch.
 * A real process stands in for the running worker (PidFile checks it) and conflink-ctl is a
 * script that counts the pushes it is asked for.
 */
final class ConfigBatchTest extends TestCase
{
    private string $dir = '';
    private ModulePaths $paths;
    /** @var resource|null */
    private $worker = null;

    protected function setUp(): void
    {
        ModulesModelsBase::$rows = [];
        WorkerModelsEvents::$invoked = [];
        $dir = Support::tempDir('batch');
        $this->dir = $dir;
        PbxExtensionUtils::$modulesDir = "{$dir}/modules";
        System::$logDir = "{$dir}/log";
        $this->paths = new ModulePaths("{$dir}/modules/ModuleConferenceLink", "{$dir}/etc", "{$dir}/run", "{$dir}/log");
        ConferenceLinkConf::usePaths($this->paths);
        Support::script($this->paths->ctlLauncher(), 'echo "$@" >> ' . escapeshellarg("{$dir}/pushes") . "\necho ok");
        ModulesModelsBase::$rows[ConferenceLinkSettings::class] = [[
            'id' => 1, 'ami_username' => 'conflink_0a1b2c3d', 'ami_secret' => str_repeat('ab', 16),
            'control_token' => str_repeat('cd', 24), 'control_port' => '17391',
        ]];
        ModulesModelsBase::$rows[ConferenceRooms::class] = [
            ['id' => '1', 'uniqid' => 'CONFERENCE-1', 'extension' => '354233'],
            ['id' => '2', 'uniqid' => 'CONFERENCE-2', 'extension' => '354234'],
        ];
        // Phones are Sip rows too (type peer); id 1 and 2 are providers, only SIP-1 is used by a link.
        $sip = [
            ['id' => '1', 'uniqid' => 'SIP-1', 'type' => 'friend', 'disabled' => '0', 'registration_type' => 'outbound', 'username' => 'u1'],
            ['id' => '2', 'uniqid' => 'SIP-2', 'type' => 'friend', 'disabled' => '0', 'registration_type' => 'outbound', 'username' => 'u2'],
        ];
        for ($i = 0; $i < 500; $i++) {
            $sip[] = ['id' => (string)(100 + $i), 'uniqid' => 'SIP-PHONE-' . $i, 'type' => 'peer', 'disabled' => '0', 'registration_type' => '', 'username' => (string)(200 + $i)];
        }
        ModulesModelsBase::$rows[Sip::class] = $sip;
        ModulesModelsBase::$rows[ConferenceLinks::class] = [[
            'id' => '4', 'conference_uniqid' => 'CONFERENCE-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '0354233',
        ]];
        PbxSettings::$values['AMIPort'] = '5038';
        $this->startFakeWorker();
    }

    protected function tearDown(): void
    {
        if ($this->worker !== null) {
            $pid = proc_get_status($this->worker)['pid'];
            exec('kill ' . (int)$pid . ' 2>/dev/null');
            proc_close($this->worker);
        }
        ConferenceLinkConf::usePaths(null);
        Support::removeAll();
    }

    /** A process whose command line names conflink, recorded in the PID file as the worker. */
    private function startFakeWorker(): void
    {
        $script       = Support::script("{$this->dir}/conflink-fake-worker", 'sleep 60');
        $this->worker = proc_open([$script], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
        self::assertIsResource($this->worker);
        $pid = proc_get_status($this->worker)['pid'];
        self::assertTrue(Support::waitFor(static fn (): bool => str_contains((string)@file_get_contents("/proc/{$pid}/cmdline"), 'conflink'), 5.0));
        @mkdir($this->paths->runDir, 0755, true);
        file_put_contents($this->paths->pidFile(), $pid . "\n");
    }

    private function pushes(): int
    {
        $file = "{$this->dir}/pushes";

        return is_file($file) ? count(file($file)) : 0;
    }

    /** The message core's ModelsBase publishes for one saved record. */
    private static function saved(string $model, string $id, array $fields): array
    {
        return ['source' => 'modelsChanged', 'model' => $model, 'recordId' => $id, 'action' => 'afterSave', 'changedFields' => $fields];
    }

    private const ALL_SIP_FIELDS = ['id', 'uniqid', 'type', 'disabled', 'registration_type', 'username', 'secret', 'callerid'];

    public function testFiveHundredChangedRecordsArePushedOnceAtTheBatchEnd(): void
    {
        $conf = new ConferenceLinkConf();
        // A bulk import: 499 new phones and, among them, a change to the provider a link uses.
        for ($i = 0; $i < 500; $i++) {
            $message = $i === 250
                ? self::saved(Sip::class, '1', ['disabled'])
                : self::saved(Sip::class, (string)(100 + $i), self::ALL_SIP_FIELDS);
            $conf->modelsEventChangeData($message);
        }
        self::assertSame(0, $this->pushes(), 'pushed before the batch ended');
        $conf->modelsEventNeedReload(['MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadPJSIPAction' => []]);
        self::assertSame(1, $this->pushes());
        self::assertStringContainsString('push-config ' . $this->paths->configFile(), (string)file_get_contents("{$this->dir}/pushes"));
        // The next batch without relevant changes pushes nothing.
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes());
    }

    public function testUnrelatedRecordsPushNothing(): void
    {
        $conf = new ConferenceLinkConf();
        for ($i = 0; $i < 500; $i++) {
            $conf->modelsEventChangeData(self::saved(Sip::class, (string)(100 + $i), self::ALL_SIP_FIELDS));
        }
        // A provider no link uses, a provider's columns the config never reads, other models.
        $conf->modelsEventChangeData(self::saved(Sip::class, '2', ['disabled', 'username']));
        $conf->modelsEventChangeData(self::saved(Sip::class, '1', ['secret', 'description']));
        $conf->modelsEventChangeData(self::saved(Providers::class, '1', ['note']));
        $conf->modelsEventChangeData(self::saved('MikoPBX\\Common\\Models\\Users', '1', ['email']));
        $conf->modelsEventChangeData(self::saved(PbxSettings::class, 'PBXLanguage', ['value']));
        $conf->modelsEventChangeData(['source' => 'invokeAction', 'action' => ReloadManagerAction::class, 'model' => '']);
        $conf->modelsEventChangeData('garbage');
        $conf->modelsEventNeedReload([]);
        self::assertSame(0, $this->pushes());
        self::assertFalse((new ConfigBatch($this->paths))->isDirty());
        self::assertSame([], WorkerModelsEvents::$invoked);
    }

    public function testAProviderChangeIsOnePush(): void
    {
        $conf = new ConferenceLinkConf();
        // Core's provider form saves the Providers row and its Sip row.
        $conf->modelsEventChangeData(self::saved(Providers::class, '1', ['note']));
        $conf->modelsEventChangeData(self::saved(Sip::class, '1', ['disabled', 'host']));
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes());
    }

    public function testDeletedOrNotYetVisibleRecordsMayMatter(): void
    {
        $conf = new ConferenceLinkConf();
        $conf->modelsEventChangeData(['model' => Sip::class, 'recordId' => '99999', 'action' => 'afterDelete', 'changedFields' => ['id', 'uniqid']]);
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes());
    }

    public function testAmiPortAndRoomChangesPush(): void
    {
        $conf = new ConferenceLinkConf();
        $conf->modelsEventChangeData(self::saved(PbxSettings::class, 'AMIPort', ['value']));
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes());
        $conf->modelsEventChangeData(self::saved(ConferenceRooms::class, '1', ['name']));
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes(), "a room's name is not in the config");
        $conf->modelsEventChangeData(self::saved(ConferenceRooms::class, '2', ['extension']));
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes(), 'no link is in room 2');
    }

    public function testARenumberedRoomKeepsItsLinkAndTheWorkerGetsTheNewNumber(): void
    {
        $conf = new ConferenceLinkConf();
        $conf->modelsEventChangeData(self::saved(ConferenceLinks::class, '4', ['dst_number']));
        self::assertStringContainsString('    room: "354233"', (string)file_get_contents($this->paths->configFile()));
        // The administrator gives the room a new number (core lets them: RESTRICT guards deletes only).
        ModulesModelsBase::$rows[ConferenceRooms::class][0]['extension'] = '2200';
        $conf->modelsEventChangeData(self::saved(ConferenceRooms::class, '1', ['extension']));
        $conf->modelsEventNeedReload([]);
        self::assertSame(2, $this->pushes());
        $yaml = (string)file_get_contents($this->paths->configFile());
        self::assertStringContainsString("  - id: \"4\"\n    room: \"2200\"\n", $yaml);
    }

    public function testALinkIsPushedAtOnceAndSettingsAfterTheManagerReload(): void
    {
        $conf = new ConferenceLinkConf();
        $conf->modelsEventChangeData(self::saved(Sip::class, '1', ['disabled']));
        // Core plans nothing for the module's own tables: a saved link cannot wait for a batch
        // end, and its push carries the provider change marked before it.
        $conf->modelsEventChangeData(self::saved(ConferenceLinks::class, '4', ['dst_number']));
        self::assertSame(1, $this->pushes());
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes());

        $conf->modelsEventChangeData(self::saved(ConferenceLinkSettings::class, '1', ['ami_secret']));
        self::assertSame([ReloadManagerAction::class], WorkerModelsEvents::$invoked);
        self::assertSame(1, $this->pushes(), 'pushed new AMI credentials before Asterisk knows them');
        $conf->modelsEventNeedReload([ReloadManagerAction::class => []]);
        self::assertSame(2, $this->pushes());
    }

    public function testTheMarkOutlivesTheHookObjectAndIsClaimedOnce(): void
    {
        // Core recreates the module objects on any module enable/disable, and a restarted
        // WorkerModelsEvents ends the batch in a new process: the mark must not live in either.
        (new ConferenceLinkConf())->modelsEventChangeData(self::saved(Sip::class, '1', ['disabled']));
        self::assertFileExists((new ConfigBatch($this->paths))->markFile());
        $a = new ConfigBatch($this->paths);
        $b = new ConfigBatch($this->paths);
        self::assertNotNull($a->flush());
        self::assertNull($b->flush(), 'a second process pushed the same mark again');
        self::assertSame(1, $this->pushes());
    }

    public function testAMarkWhoseBatchAlreadyEndedIsPushedOnceItIsStale(): void
    {
        // Core ends a batch with an immediate action (ReloadAdviceAction for a Sip save) before
        // it calls modelsEventChangeData for that save: no modelsEventNeedReload follows.
        (new ConferenceLinkConf())->modelsEventChangeData(self::saved(Sip::class, '1', ['disabled']));
        $batch = new ConfigBatch($this->paths);
        $marked = (float)filemtime($batch->markFile());
        self::assertNull($batch->flushStale(3.0, $marked + 1.0), 'a fresh mark waits for its batch end');
        self::assertSame(0, $this->pushes());
        self::assertNotNull($batch->flushStale(3.0, $marked + 4.0));
        self::assertSame(1, $this->pushes());
        self::assertFalse($batch->isDirty());
        self::assertNull($batch->flushStale(3.0, $marked + 60.0), 'nothing left to push');
        self::assertSame(1, $this->pushes());
    }

    public function testAPushWithoutAnswerIsRetriedWithTheNextBatch(): void
    {
        Support::script($this->paths->ctlLauncher(), 'echo "$@" >> ' . escapeshellarg("{$this->dir}/pushes") . "\necho 'no answer' >&2\nexit 3");
        $conf = new ConferenceLinkConf();
        $conf->modelsEventChangeData(self::saved(Sip::class, '1', ['disabled']));
        $conf->modelsEventNeedReload([]);
        self::assertSame(1, $this->pushes());
        self::assertTrue((new ConfigBatch($this->paths))->isDirty());
        Support::script($this->paths->ctlLauncher(), 'echo "$@" >> ' . escapeshellarg("{$this->dir}/pushes") . "\necho 'error: bad config'\nexit 1");
        $conf->modelsEventNeedReload([]);
        self::assertSame(2, $this->pushes());
        self::assertFalse((new ConfigBatch($this->paths))->isDirty(), 'a refused config is retried unchanged');
    }

    public function testMessageModelNamesAreCoreClasses(): void
    {
        self::assertSame(Sip::class, ModelChange::SIP_MODEL);
        self::assertSame(ConferenceRooms::class, ModelChange::ROOMS_MODEL);
        self::assertSame(PbxSettings::class, ModelChange::PBX_SETTINGS_MODEL);
        self::assertSame(PbxSettings::AMI_PORT, ModelChange::AMI_PORT_KEY);
        self::assertSame(ConferenceLinks::class, ModelChange::LINKS_MODEL);
        self::assertSame(ConferenceLinkSettings::class, ModelChange::SETTINGS_MODEL);
    }
}
