<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Argument vectors for the bundled launchers. Arrays, never shell strings: proc_open() with an
 * array runs the program directly, so no path or value is ever parsed by a shell.
 */
final class WorkerCommand
{
    /** @return list<string> */
    public static function worker(ModulePaths $paths): array
    {
        return [
            $paths->workerLauncher(),
            '--config',
            $paths->configFile(),
            '--log-file',
            $paths->workerLog(),
        ];
    }

    /**
     * @param list<string> $args sub-command and its arguments, e.g. ['status', '--json']
     *
     * @return list<string>
     */
    public static function ctl(ModulePaths $paths, array $args): array
    {
        return array_merge([$paths->ctlLauncher(), '--config', $paths->configFile()], array_values($args));
    }
}
