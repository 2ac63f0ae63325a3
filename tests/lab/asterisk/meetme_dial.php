#!/usr/bin/php
<?php
// Stand-in for MikoPBX's meetme_dial.php: read the AGI environment, record that it ran.
$env = [];
while (($line = fgets(STDIN)) !== false) {
    $line = rtrim($line, "\r\n");
    if ($line === '') { break; }
    $parts = explode(': ', $line, 2);
    $env[$parts[0]] = $parts[1] ?? '';
}
$rec = ['t' => microtime(true), 'uniqueid' => $env['agi_uniqueid'] ?? '',
        'channel' => $env['agi_channel'] ?? '', 'extension' => $env['agi_extension'] ?? '',
        'context' => $env['agi_context'] ?? ''];
file_put_contents('@INNER@/meetme_dial.log', json_encode($rec) . "\n", FILE_APPEND);
