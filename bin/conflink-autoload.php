<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

/*
 * Tiny PSR-4 autoloader for the module's own plain PHP classes, for CLI tools and tests that
 * run without MikoPBX (on the PBX, core's class loader maps the Modules\ namespace itself).
 */
spl_autoload_register(static function (string $class): void {
    $prefix = 'Modules\\ModuleConferenceLink\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $relative = str_replace('\\', '/', substr($class, strlen($prefix)));
    $file     = dirname(__DIR__) . '/' . $relative . '.php';
    if (is_file($file)) {
        require_once $file;
    }
});
