<?php

declare(strict_types=1);

/*
 * PHPUnit bootstrap: the module's own autoloader (Modules\ModuleConferenceLink\… → checkout
 * root, as core maps Modules\ on the PBX) plus the stand-ins for MikoPBX/Phalcon classes.
 */

require_once dirname(__DIR__, 2) . '/bin/conflink-autoload.php';
require_once __DIR__ . '/stubs/stubs.php';
require_once __DIR__ . '/unit/Support.php';
