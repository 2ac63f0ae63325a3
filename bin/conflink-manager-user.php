<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

/*
 * Prints the manager.conf section ConferenceLinkConf::generateManagerConf() writes for the
 * module's AMI user (localhost only, least privilege, event filters), for a given user and
 * secret. Plain PHP CLI, no Phalcon: the lab runs the worker under exactly this section.
 * Usage: php bin/conflink-manager-user.php USERNAME SECRET
 */

use Modules\ModuleConferenceLink\Lib\ManagerConfBuilder;

require_once __DIR__ . '/conflink-autoload.php';

if (PHP_SAPI !== 'cli') {
    fwrite(STDERR, "conflink-manager-user: CLI only\n");
    exit(2);
}
if ($argc !== 3) {
    fwrite(STDERR, "usage: php bin/conflink-manager-user.php USERNAME SECRET\n");
    exit(2);
}

try {
    fwrite(STDOUT, ManagerConfBuilder::section($argv[1], $argv[2]));
} catch (InvalidArgumentException $e) {
    fwrite(STDERR, 'conflink-manager-user: ' . $e->getMessage() . "\n");
    exit(1);
}
