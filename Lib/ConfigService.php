<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Common\Models\Sip;
use MikoPBX\Core\System\SystemMessages;
use Modules\ModuleConferenceLink\Models\ConferenceLinks;
use Modules\ModuleConferenceLink\Models\ConferenceLinkSettings;
use Throwable;

/**
 * Reads MikoPBX data into plain arrays, renders the worker config, writes it atomically and
 * pushes it to the running worker. The only Phalcon-facing part of the config path; the
 * logic sits in ConfigRenderer / LinkValidator / EndpointResolver.
 */
final class ConfigService
{
    private ModulePaths $paths;

    public function __construct(ModulePaths $paths)
    {
        $this->paths = $paths;
    }

    /** @return array<string, string> the settings row, '' for missing values */
    public static function settings(): array
    {
        $row = ConferenceLinkSettings::findFirst();

        return [
            'ami_username'  => (string)($row->ami_username ?? ''),
            'ami_secret'    => (string)($row->ami_secret ?? ''),
            'control_token' => (string)($row->control_token ?? ''),
            'control_port'  => (string)($row->control_port ?? ''),
        ];
    }

    /**
     * Rooms for the validator and the renderer: uniqid => extension. Links store the uniqid;
     * the extension (the ConfBridge name the worker uses) is read here at every render.
     *
     * @return array<string, string>
     */
    public static function rooms(): array
    {
        $rooms = [];
        foreach (ConferenceRooms::find(['columns' => 'uniqid,extension'])->toArray() as $row) {
            $uniqid = (string)($row['uniqid'] ?? '');
            if ($uniqid !== '') {
                $rooms[$uniqid] = (string)($row['extension'] ?? '');
            }
        }

        return $rooms;
    }

    /** Active SIP providers: uniqid => endpoint name. @return array<string, string> */
    public static function providerEndpoints(): array
    {
        $rows = Sip::find([
            "type = 'friend' AND disabled <> '1'",
            'columns' => 'uniqid,type,disabled,registration_type,username',
        ])->toArray();

        return EndpointResolver::activeProviderEndpoints($rows);
    }

    public static function validator(): LinkValidator
    {
        return new LinkValidator(self::rooms(), self::providerEndpoints());
    }

    public function render(): RenderedConfig
    {
        $settings = self::settings();
        $port     = Credentials::isPort($settings['control_port']) ? $settings['control_port'] : (string)Credentials::DEFAULT_CONTROL_PORT;

        return (new ConfigRenderer())->render(
            ConferenceLinks::find(['order' => 'id'])->toArray(),
            self::rooms(),
            self::providerEndpoints(),
            [
                'ami_host'         => '127.0.0.1',
                'ami_port'         => PbxSettings::getValueByKey(PbxSettings::AMI_PORT),
                'ami_username'     => $settings['ami_username'],
                'ami_secret'       => $settings['ami_secret'],
                'control_endpoint' => 'tcp://127.0.0.1:' . $port,
                'control_token'    => $settings['control_token'],
                'join_context'     => DialplanBuilder::DEFAULT_CONTEXT,
            ]
        );
    }

    /**
     * Renders and writes the config file (for the worker's cold start). False on failure (logged).
     */
    public function writeConfig(): bool
    {
        try {
            $rendered = $this->render();
            foreach ($rendered->skipped as $skip) {
                $this->log(sprintf('link %s left out of the worker config: %s', $skip['id'], json_encode($skip['errors'])), LOG_WARNING);
            }
            AtomicFile::write($this->paths->configFile(), $rendered->yaml, 0600);
            return true;
        } catch (Throwable $e) {
            $this->log('cannot write the worker config: ' . $e->getMessage(), LOG_ERR);
            return false;
        }
    }

    /**
     * The uniqid of one Sip or ConferenceRooms record (ModelChange::PROVIDER / ROOM), or null
     * when it is not there (deleted, or saved in a transaction not committed yet).
     */
    public static function recordUniqid(string $kind, string $recordId): ?string
    {
        $model = match ($kind) {
            ModelChange::PROVIDER => Sip::class,
            ModelChange::ROOM     => ConferenceRooms::class,
            default               => null,
        };
        if ($model === null || preg_match('/^[0-9]{1,18}$/D', $recordId) !== 1) {
            return null;
        }
        $row = $model::findFirst([
            'conditions' => 'id = :id:',
            'bind'       => ['id' => (int)$recordId],
            'columns'    => 'uniqid',
        ]);

        return $row === null ? null : (string)$row->uniqid;
    }

    /**
     * The provider (ModelChange::PROVIDER) or room (ModelChange::ROOM) uniqids that links use;
     * null for any other kind (every change of it may matter).
     *
     * @return ?list<string>
     */
    public static function linkedUniqids(string $kind): ?array
    {
        $column = match ($kind) {
            ModelChange::PROVIDER => 'provider_uniqid',
            ModelChange::ROOM     => 'conference_uniqid',
            default               => null,
        };
        if ($column === null) {
            return null;
        }
        $out = [];
        foreach (ConferenceLinks::find(['columns' => $column])->toArray() as $row) {
            $out[] = (string)($row[$column] ?? '');
        }

        return array_values(array_unique($out));
    }

    /**
     * Writes the config and pushes it to the running worker. Null when no worker runs: it picks
     * the file up at its next start. A failed write is a local error (exit code 2).
     */
    public function writeAndPush(): ?CtlResult
    {
        if (!$this->writeConfig()) {
            return CtlResult::localError('cannot write the worker config');
        }
        // This runs inside core's model-events worker: with no worker process to push to, the
        // file just written is what the next start reads, so don't wait for a timeout.
        if ((new PidFile($this->paths->pidFile()))->runningPid() === null) {
            return null;
        }
        $result = (new CtlClient($this->paths))->pushConfig($this->paths->configFile());
        if (!$result->ok) {
            $this->log('push-config: ' . $result->error, $result->exitCode === 1 ? LOG_ERR : LOG_NOTICE);
        }

        return $result;
    }

    private function log(string $message, int $level): void
    {
        SystemMessages::sysLogMsg(ModulePaths::MODULE_ID, $message, $level);
    }
}
