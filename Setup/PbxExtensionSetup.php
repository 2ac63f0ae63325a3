<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 *
 * This program is free software: you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Setup;

use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Core\System\SystemMessages;
use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Modules\Setup\PbxExtensionSetupBase;
use Modules\ModuleConferenceLink\Lib\Credentials;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\Uninstall;
use Modules\ModuleConferenceLink\Lib\WorkerStop;
use Modules\ModuleConferenceLink\Lib\RoomIdMigration;
use Modules\ModuleConferenceLink\Models\ConferenceLinkSettings;
use MikoPBX\Core\System\System;
use PDO;
use Throwable;

use function MikoPBX\Common\Config\appPath;

/**
 * Installer hooks. installDB runs again on every upgrade (after the db/ backup is restored),
 * so credentials are generated only where missing: an upgrade keeps the AMI user the running
 * Asterisk knows and the token the running worker expects.
 */
class PbxExtensionSetup extends PbxExtensionSetupBase
{
    public function installDB(): bool
    {
        // Before core rebuilds the tables from the models, which drops 0.1.0's room column.
        if (!$this->migrateRoomsToUniqid()) {
            return false;
        }
        if (!parent::installDB()) {
            return false;
        }
        try {
            $row = ConferenceLinkSettings::findFirst();
            if ($row === null) {
                $row = new ConferenceLinkSettings();
            }
            $values = Credentials::complete([
                'ami_username'  => $row->ami_username,
                'ami_secret'    => $row->ami_secret,
                'control_token' => $row->control_token,
                'control_port'  => (string)$row->control_port,
            ]);
            $row->ami_username  = $values['ami_username'];
            $row->ami_secret    = $values['ami_secret'];
            $row->control_token = $values['control_token'];
            $row->control_port  = $values['control_port'];
            if (!$row->save()) {
                $this->messages[] = 'ModuleConferenceLink: cannot save settings: ' . implode('; ', $row->getMessages());
                return false;
            }
        } catch (Throwable $e) {
            $this->messages[] = 'ModuleConferenceLink: cannot create settings: ' . $e->getMessage();
            return false;
        }

        return true;
    }

    /**
     * 0.1.0 → 0.2.0: links refer to their room by uniqid (RoomIdMigration). A failure stops the
     * install before core touches the table, so no link loses its room.
     */
    private function migrateRoomsToUniqid(): bool
    {
        $file = $this->moduleDir . '/db/module.db';
        if (!is_file($file)) {
            return true;
        }
        try {
            $uniqidByExtension = [];
            foreach (ConferenceRooms::find(['columns' => 'uniqid,extension'])->toArray() as $room) {
                $uniqidByExtension[(string)$room['extension']] = (string)$room['uniqid'];
            }
            $db     = new PDO('sqlite:' . $file, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
            $report = RoomIdMigration::run($db, $uniqidByExtension);
            $db     = null;
        } catch (Throwable $e) {
            $this->messages[] = 'ModuleConferenceLink: cannot move links to room ids: ' . $e->getMessage();
            return false;
        }
        foreach ($report['unmatched'] as $link) {
            SystemMessages::sysLogMsg(
                ModulePaths::MODULE_ID,
                "link {$link['id']}: no conference room has the number {$link['extension']} any more; choose its room again",
                LOG_WARNING
            );
        }

        return true;
    }

    /**
     * Stops the wrapper and the Python worker by their PID files before the files go (neither
     * core's killall nor the uninstaller's lsof of bin/* is sure to find them), then removes
     * what the module keeps outside its folder and its links in core's tree (Lib/Uninstall)
     * and, unless the settings are kept, its sidebar item.
     */
    public function unInstallFiles(bool $keepSettings = false): bool
    {
        try {
            $paths = ModulePaths::forPbx($this->moduleDir, System::getLogDir());
            WorkerStop::stopAll($paths);
            foreach (Uninstall::foldersToRemove($paths, $keepSettings) as $folder) {
                Uninstall::removeTree($folder);
            }
            foreach (Uninstall::coreLinks(appPath(), $this->moduleUniqueID) as $link) {
                if (is_link($link)) {
                    @unlink($link);
                }
            }
            if (!$keepSettings) {
                PbxSettings::findFirstByKey('AdditionalMenuItem' . $this->moduleUniqueID)?->delete();
            }
        } catch (Throwable $e) {
            $this->messages[] = 'ModuleConferenceLink: cleaning up failed: ' . $e->getMessage();
        }

        return parent::unInstallFiles($keepSettings);
    }
}
