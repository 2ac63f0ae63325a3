<?php

declare(strict_types=1);

/*
 * Autoloader for the admin-UI tests: Modules\ModuleConferenceLink\… maps to the checkout
 * root, as core's class loader maps Modules\ to the modules directory on the PBX.
 * Only plain-PHP classes are loaded here; Phalcon-facing ones are checked with php -l.
 */

spl_autoload_register(static function (string $class): void {
    $prefix = 'Modules\\ModuleConferenceLink\\';
    if (!str_starts_with($class, $prefix)) {
        return;
    }
    $file = dirname(__DIR__, 3) . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
