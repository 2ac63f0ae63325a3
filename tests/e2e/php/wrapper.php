<?php

/*
 * ModuleConferenceLink — lab stand-in for Lib/WorkerConferenceLinkPy (the MikoPBX worker that
 * supervises the Python worker): the module's real ChildSupervisor, BackoffSchedule, PidFile
 * and WorkerCommand, wired to signals as that class wires them (SIGUSR1 = core's soft
 * restart → handOver(); SIGTERM = final stop), without core's WorkerBase around it.
 *
 * php wrapper.php MODULE_DIR CONFIG_DIR RUN_DIR LOG_DIR
 */

declare(strict_types=1);

require_once dirname(__DIR__, 3) . '/bin/conflink-autoload.php';

use Modules\ModuleConferenceLink\Lib\BackoffSchedule;
use Modules\ModuleConferenceLink\Lib\ChildSupervisor;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\PidFile;
use Modules\ModuleConferenceLink\Lib\WorkerCommand;

if (count($argv) !== 5) {
    fwrite(STDERR, "usage: php wrapper.php MODULE_DIR CONFIG_DIR RUN_DIR LOG_DIR\n");
    exit(2);
}
$paths = new ModulePaths($argv[1], $argv[2], $argv[3], $argv[4]);
$supervisor = new ChildSupervisor(
    WorkerCommand::worker($paths),
    new PidFile($paths->pidFile()),
    new BackoffSchedule(),
    $paths->workerStderrLog(),
    null,
    static function (string $message, bool $isError): void {
        fwrite(STDERR, sprintf("%s wrapper[%d] %s\n", date('H:i:s'), getmypid(), $message));
    }
);
pcntl_async_signals(true);
pcntl_signal(SIGUSR1, static function () use ($supervisor): void {
    $supervisor->handOver();
});
pcntl_signal(SIGTERM, static function () use ($supervisor): void {
    $supervisor->requestStop();
    $supervisor->stopChild(SIGTERM);
    exit(0);
});
$supervisor->run();
