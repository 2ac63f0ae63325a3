<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Stops the module's processes by their PID files, synchronously: the PHP wrapper first (on
 * SIGTERM it stops its Python child itself), then any Python worker left over (a wrapper
 * killed with SIGKILL leaves its child running). Used on disable and uninstall, which must
 * not depend on core's `killall <class>` matching the wrapper's process title (and which run
 * before core's killall), nor on the wrapper noticing the disable on its next poll.
 */
final class WorkerStop
{
    /** Substring of the wrapper's command line: its process title, or `php -f …/WorkerConferenceLinkPy.php`. */
    public const WRAPPER_MARKER = 'WorkerConferenceLinkPy';

    /** The wrapper waits up to ChildSupervisor's 10 s for its child; a little more for itself. */
    public const WRAPPER_GRACE_SECONDS = 15.0;

    public static function wrapperPidFile(ModulePaths $paths): PidFile
    {
        return new PidFile($paths->wrapperPidFile(), self::WRAPPER_MARKER);
    }

    public static function stopAll(ModulePaths $paths): void
    {
        self::wrapperPidFile($paths)->stop(self::WRAPPER_GRACE_SECONDS);
        (new PidFile($paths->pidFile()))->stop();
    }
}
