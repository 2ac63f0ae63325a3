<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

/*
 * Prints the dialplan contexts that ConferenceLinkConf::extensionGenContexts() returns.
 * Plain PHP CLI, no Phalcon: the lab loads this output into a real Asterisk.
 * Usage: php bin/conflink-dialplan.php
 */

use Modules\ModuleConferenceLink\Lib\DialplanBuilder;

require_once __DIR__ . '/conflink-autoload.php';

if (PHP_SAPI !== 'cli') {
    fwrite(STDERR, "conflink-dialplan: CLI only\n");
    exit(2);
}
if ($argc > 1) {
    fwrite(STDERR, "usage: php bin/conflink-dialplan.php\n");
    exit(2);
}

fwrite(STDOUT, (new DialplanBuilder())->buildAll());
