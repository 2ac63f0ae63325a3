<?php

/*
 * ModuleConferenceLink — fault suite helper: runs the module's LinkValidator on many rows.
 * stdin: JSON {"rooms": {uniqid: extension}, "providers": {uniqid: endpoint}, "base": {row}, "cases": [{"field", "value"}]}
 * stdout: JSON list, one {"field", "errors"} per case (errors: field => translation key).
 */

declare(strict_types=1);

require_once dirname(__DIR__, 3) . '/bin/conflink-autoload.php';

use Modules\ModuleConferenceLink\Lib\LinkValidator;

$in = json_decode((string)stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$validator = new LinkValidator($in['rooms'], $in['providers']);
$out = [];
$base = $in['base'];
$clean = $validator->check($base);
if (!$clean->isValid()) {
    fwrite(STDERR, 'base row is not valid: ' . json_encode($clean->errors) . "\n");
    exit(2);
}
foreach ($in['cases'] as $case) {
    $row = $base;
    $row[$case['field']] = $case['value'];
    $result = $validator->check($row);
    $out[] = ['field' => $case['field'], 'errors' => $result->errors, 'values' => $result->values];
}
echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
