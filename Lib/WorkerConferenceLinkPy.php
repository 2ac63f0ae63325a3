<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use MikoPBX\Core\System\SystemMessages;
use MikoPBX\Core\Workers\WorkerBase;
use MikoPBX\Modules\PbxExtensionUtils;
use Throwable;

require_once 'Globals.php';

/**
 * MikoPBX worker that supervises the Python worker (module workers must be PHP classes).
 * Registered as CHECK_BY_PID_NOT_ALERT: core only checks that this process exists.
 *
 * Thin by design; ChildSupervisor does the work. Signals:
 * - SIGTERM/SIGINT (module disable: core killalls the class; shutdown): stop the child, then
 *   let WorkerBase exit.
 * - SIGUSR1 (core's soft restart of all workers): return from start() at once and leave the
 *   child running (ChildSupervisor::handOver), well inside core's 5 s wait for the old
 *   wrapper; the fresh wrapper core then starts stops that child with SIGUSR1 (its external
 *   calls stay up) and starts its own, which adopts the calls. A final stop (SIGTERM) makes
 *   the child hang its calls up first.
 */
class WorkerConferenceLinkPy extends WorkerBase
{
    private ?ChildSupervisor $supervisor = null;

    /**
     * Core's supervisor looks at this wrapper every N seconds. Should core not start a new
     * wrapper after a soft restart, the handed-over worker runs on unsupervised until then.
     */
    public static function getCheckInterval(): int
    {
        return 10;
    }

    public function start(array $argv): void
    {
        $paths = ConferenceLinkConf::paths();
        // Disable and uninstall stop this process by this file (WorkerStop), not only by title.
        $ownPid = WorkerStop::wrapperPidFile($paths);
        $ownPid->write(getmypid());
        // Cold start: the config in /etc may be missing or stale; the DB is the truth.
        (new ConfigService($paths))->writeConfig();

        $this->supervisor = new ChildSupervisor(
            WorkerCommand::worker($paths),
            new PidFile($paths->pidFile()),
            new BackoffSchedule(),
            $paths->workerStderrLog(),
            function () use ($paths): bool {
                try {
                    // Pushes a config change whose core batch ended before it was noted (ConfigBatch).
                    (new ConfigBatch($paths))->flushStale();
                } catch (Throwable $e) {
                    SystemMessages::sysLogMsg(ModulePaths::MODULE_ID, 'config push failed: ' . $e->getMessage(), LOG_ERR);
                }
                return !$this->needRestart && PbxExtensionUtils::isEnabled(ModulePaths::MODULE_ID);
            },
            static function (string $message, bool $isError): void {
                SystemMessages::sysLogMsg(ModulePaths::MODULE_ID, $message, $isError ? LOG_ERR : LOG_INFO);
            },
            startProblem: new StartProblem($paths->startProblemFile()),
        );
        try {
            $this->supervisor->run();
        } finally {
            // A soft restart's successor may already have written its own PID there.
            if ($ownPid->read() === getmypid()) {
                $ownPid->remove();
            }
        }
    }

    public function signalHandler(int $signal): void
    {
        if ($signal === SIGTERM || $signal === SIGINT) {
            // WorkerBase exits at once on these; the child must not outlive us.
            $this->supervisor?->requestStop();
            $this->supervisor?->stopChild(SIGTERM);
        }
        parent::signalHandler($signal);
    }

    protected function handleSignalUsr1(): void
    {
        $this->needRestart = true;
        $this->supervisor?->handOver();
    }
}

// Started by core as `php -f WorkerConferenceLinkPy.php start`.
if (isset($argv) && count($argv) > 1) {
    WorkerConferenceLinkPy::startWorker($argv);
}
