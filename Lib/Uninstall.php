<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * What an uninstall removes outside the module's own folder (core removes that folder).
 * The config folder (the rendered config holds the AMI secret and control token; it is rendered
 * again from the database at every start) and the run folder (PID files, the batch mark) always
 * go. The log folder goes unless the administrator keeps the settings, like the database and
 * the sidebar item (PbxExtensionSetup).
 */
final class Uninstall
{
    /** @return list<string> */
    public static function foldersToRemove(ModulePaths $paths, bool $keepSettings): array
    {
        $folders = [$paths->configDir, $paths->runDir];
        if (!$keepSettings) {
            $folders[] = $paths->logDir;
        }

        return $folders;
    }

    /**
     * The symlinks core's installer makes for the module inside core's tree (assets, views).
     * Core's uninstaller removes the asset links only while they resolve — after it has deleted
     * the module folder they dangle and stay — and never the views link; the module removes them.
     *
     * @return list<string>
     */
    public static function coreLinks(string $coreRoot, string $moduleId): array
    {
        $root = rtrim($coreRoot, '/');
        return [
            "{$root}/sites/admin-cabinet/assets/img/cache/{$moduleId}",
            "{$root}/sites/admin-cabinet/assets/css/cache/{$moduleId}",
            "{$root}/sites/admin-cabinet/assets/js/cache/{$moduleId}",
            "{$root}/src/AdminCabinet/Views/Modules/{$moduleId}",
        ];
    }

    /** Removes a folder and everything in it; symlinks are removed, never followed. */
    public static function removeTree(string $path): void
    {
        if (is_link($path) || is_file($path)) {
            @unlink($path);
            return;
        }
        if (!is_dir($path)) {
            return;
        }
        foreach (scandir($path) ?: [] as $name) {
            if ($name !== '.' && $name !== '..') {
                self::removeTree($path . '/' . $name);
            }
        }
        @rmdir($path);
    }
}
