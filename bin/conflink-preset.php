<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

/*
 * Prints the DTMF sequence the admin UI builds for a dial-in preset (Lib/DtmfPresets, the one
 * builder). Plain PHP CLI, no Phalcon: the lab tests dial with the real builder's output.
 *
 * Usage: php bin/conflink-preset.php PRESET [FIELD=VALUE ...]
 *   php bin/conflink-preset.php zoom meeting_id=123456789 passcode=4321   → p123456789#p#p4321#
 *   php bin/conflink-preset.php custom dtmf='p1234#'
 * Fields: those the preset uses of meeting_id, participant_id, passcode (custom: dtmf). Exit 0 and the sequence (one
 * line; empty line for an empty sequence) on stdout; exit 1 and "field: error key" lines on
 * stderr for invalid fields; exit 2 for a usage error.
 */

use Modules\ModuleConferenceLink\Lib\DtmfPresets;

require_once __DIR__ . '/conflink-autoload.php';

$usage = 'usage: php bin/conflink-preset.php PRESET [FIELD=VALUE ...]' . "\n"
    . '  presets: ' . implode(', ', DtmfPresets::names()) . "\n"
    . '  fields:  ' . implode(', ', DtmfPresets::FIELDS) . ' (custom: dtmf)' . "\n";

if (PHP_SAPI !== 'cli') {
    fwrite(STDERR, "conflink-preset: CLI only\n");
    exit(2);
}
$args = array_slice($argv, 1);
if ($args === [] || in_array($args[0], ['-h', '--help'], true)) {
    fwrite($args === [] ? STDERR : STDOUT, $usage);
    exit($args === [] ? 2 : 0);
}

$preset  = array_shift($args);
// Only the fields this preset uses: a field it would ignore is a mistake in the caller.
$allowed = $preset === DtmfPresets::CUSTOM ? ['dtmf'] : array_keys(DtmfPresets::PRESETS[$preset] ?? []);
$fields  = [];
foreach ($args as $arg) {
    $eq = strpos($arg, '=');
    $name = $eq === false ? $arg : substr($arg, 0, $eq);
    if (!array_key_exists($preset, DtmfPresets::PRESETS)) {
        break;
    }
    if ($eq === false || !in_array($name, $allowed, true) || array_key_exists($name, $fields)) {
        fwrite(STDERR, "conflink-preset: bad argument '{$arg}' (fields for {$preset}: " . implode(', ', $allowed) . ")\n" . $usage);
        exit(2);
    }
    $fields[$name] = substr($arg, $eq + 1);
}

$result = DtmfPresets::build($preset, $fields);
if (!$result->isValid()) {
    foreach ($result->errors as $field => $key) {
        fwrite(STDERR, "{$field}: {$key}\n");
    }
    exit(1);
}
fwrite(STDOUT, $result->sequence . "\n");
