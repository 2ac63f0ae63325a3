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

use MikoPBX\Modules\Setup\PbxExtensionSetupBase;
use Modules\ModuleConferenceLink\Lib\Credentials;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\PidFile;
use Modules\ModuleConferenceLink\Models\ConferenceLinkSettings;
use MikoPBX\Core\System\System;
use Throwable;

/**
 * Installer hooks. installDB runs again on every upgrade (after the db/ backup is restored),
 * so credentials are generated only where missing: an upgrade keeps the AMI user the running
 * Asterisk knows and the token the running worker expects.
 */
class PbxExtensionSetup extends PbxExtensionSetupBase
{
    public function installDB(): bool
    {
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
     * Stops the Python worker by its PID file before the files go: neither core's killall of
     * the PHP wrapper nor the uninstaller's lsof of bin/* finds a Python interpreter.
     */
    public function unInstallFiles(bool $keepSettings = false): bool
    {
        try {
            $paths = ModulePaths::forPbx($this->moduleDir, System::getLogDir());
            (new PidFile($paths->pidFile()))->stop();
            // The rendered config holds the AMI secret and the control token.
            if (is_file($paths->configFile())) {
                @unlink($paths->configFile());
            }
        } catch (Throwable $e) {
            $this->messages[] = 'ModuleConferenceLink: stopping the worker failed: ' . $e->getMessage();
        }

        return parent::unInstallFiles($keepSettings);
    }
}
