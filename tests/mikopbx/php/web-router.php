<?php

/*
 * Router of PHP's built-in server for Core's admin application in the rig (the part nginx plays
 * on a PBX): /admin-cabinet/assets/* are files of Core's sites/admin-cabinet (the module's
 * js/css/img cache links included, as Core's installer makes them); /pbxcore/* goes to the rig's
 * small stand-in of Core's REST front (web-pbxcore.php); everything else is Core's own
 * sites/admin-cabinet/index.php, after the rig's bootstrap of phalcon/phalcon and the stand-ins.
 */

declare(strict_types=1);

$session = json_decode((string)file_get_contents(__DIR__ . '/session.json'), true);
$path = (string)parse_url((string)$_SERVER['REQUEST_URI'], PHP_URL_PATH);

// Bridge: under phalcon/phalcon v6 Core's asset URLs come out with the base URI twice
// (/admin-cabinet/admin-cabinet/assets/...); the C extension prints it once.
if (str_starts_with($path, '/admin-cabinet/admin-cabinet/')) {
    $path = substr($path, strlen('/admin-cabinet'));
}
// nginx + php-fpm set SERVER_ADDR; PHP's built-in server does not (Core's Elements reads it).
$_SERVER['SERVER_ADDR'] ??= '127.0.0.1';

if (str_starts_with($path, '/admin-cabinet/assets/') || $path === '/favicon.ico') {
    $file = realpath($session['core'] . '/sites' . ($path === '/favicon.ico' ? '/admin-cabinet/favicon.ico' : $path));
    if ($file === false || !is_file($file)) {
        http_response_code(404);
        return true;
    }
    $types = ['js' => 'text/javascript', 'css' => 'text/css', 'svg' => 'image/svg+xml', 'png' => 'image/png',
        'jpg' => 'image/jpeg', 'gif' => 'image/gif', 'woff' => 'font/woff', 'woff2' => 'font/woff2',
        'ttf' => 'font/ttf', 'eot' => 'application/vnd.ms-fontobject', 'ico' => 'image/x-icon', 'json' => 'application/json',
        'map' => 'application/json'];
    $ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
    header('Content-Type: ' . ($types[$ext] ?? 'application/octet-stream'));
    header('Content-Length: ' . filesize($file));
    readfile($file);
    return true;
}

require_once $session['core'] . '/vendor/autoload.php';
require_once __DIR__ . '/standins.php';
require_once __DIR__ . '/pheanstalk.php';
require_once __DIR__ . '/DocblockReader.php';
require_once __DIR__ . '/AnnotationsMemory.php';

if (str_starts_with($path, '/pbxcore/')) {
    require __DIR__ . '/web-pbxcore.php';
    return true;
}

$_SERVER['SCRIPT_FILENAME'] = $session['core'] . '/sites/admin-cabinet/index.php';
$_GET['_url'] = $path;
require $session['core'] . '/sites/admin-cabinet/index.php';
return true;
