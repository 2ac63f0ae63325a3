<?php

/*
 * Makes the session's copy of Core's shipped empty database current, with Core's own code:
 * UpdateDatabase creates/updates every Core table from the model annotations, as a PBX does
 * at boot after an upgrade. Then the PBX version the module's min_pbx_version is checked against.
 */

declare(strict_types=1);

require_once 'Globals.php';

use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Core\System\Upgrade\UpdateDatabase;

(new UpdateDatabase())->updateDatabaseStructure();
PbxSettings::setValueByKey(PbxSettings::PBX_VERSION, $argv[1] ?? '2026.1.87');
echo "pbx ready: ", PbxSettings::getValueByKey(PbxSettings::PBX_VERSION), "\n";
