<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Where the module's runtime files live. Plain values so tests can point them at a temp dir;
 * on the PBX ConferenceLinkConf::paths() fills them from core's directories.
 *
 * Layout (as other modules with a non-PHP daemon do): config under
 * /etc/custom_modules/<ID>, PID file under /var/run/custom_modules/<ID>, logs under
 * <logsDir>/<ID>. The config is rendered again from the database before every worker start,
 * so losing /etc at reboot loses nothing.
 */
final class ModulePaths
{
    public const MODULE_ID = 'ModuleConferenceLink';

    public function __construct(
        public readonly string $moduleDir,
        public readonly string $configDir,
        public readonly string $runDir,
        public readonly string $logDir,
    ) {
    }

    public static function forPbx(string $moduleDir, string $logsRoot): self
    {
        return new self(
            $moduleDir,
            '/etc/custom_modules/' . self::MODULE_ID,
            '/var/run/custom_modules/' . self::MODULE_ID,
            rtrim($logsRoot, '/') . '/' . self::MODULE_ID,
        );
    }

    public function configFile(): string
    {
        return $this->configDir . '/conflink.yaml';
    }

    public function pidFile(): string
    {
        return $this->runDir . '/conflink-worker.pid';
    }

    /**
     * PID of the PHP wrapper (WorkerConferenceLinkPy). Core stops module workers with killall by
     * process title only; this file lets disable and uninstall stop it for certain.
     */
    public function wrapperPidFile(): string
    {
        return $this->runDir . '/conflink-wrapper.pid';
    }

    /** Why the last worker start failed (StartProblem), written by the supervisor. */
    public function startProblemFile(): string
    {
        return $this->runDir . '/conflink-worker.start-problem';
    }

    public function workerLog(): string
    {
        return $this->logDir . '/conflink-worker.log';
    }

    /** Interpreter crashes and import errors land here (the worker's own log is workerLog()). */
    public function workerStderrLog(): string
    {
        return $this->logDir . '/conflink-worker.stderr.log';
    }

    public function workerLauncher(): string
    {
        return $this->moduleDir . '/bin/conflink-worker';
    }

    public function ctlLauncher(): string
    {
        return $this->moduleDir . '/bin/conflink-ctl';
    }
}
