<?php

/*
 * MikoPBX's outgoing routing as Core renders it, for the lab (tests/mikopbx/test_outgoing_routes.py).
 *
 * argv[1]: JSON {"providers": ["A", "B"], "routes": [{"provider": "A", "priority": 1,
 * "numberbeginswith": "7", "restnumbers": "10", "trimfrombegin": "1", "prepend": "8"}, …]}.
 * Creates the SIP providers (php/fixtures.php, Core's models as the Providers page does) and the
 * routes (Core's OutgoingRoutingTable model, as the Outgoing routes page saves them; the sample
 * route of Core's shipped database is deleted first, so only these apply), then prints
 * one JSON line:
 *   providers: key => uniqid (Core names each provider's PJSIP endpoint after it);
 *   outgoing:  OutgoingContext::generate() — the `[outgoing]` context and one
 *              `[<provider>-<route>-outgoing]` context per route, exactly as Core writes them
 *              into extensions.conf;
 *   other:     ExtensionsConf::generateOtherExten() — the small contexts extensions.conf has
 *              beside them, among them `[dial_create_chan]` and `[hangup_handler]`, which the
 *              provider contexts' Dial(… b(dial_create_chan,s,1)) reaches (the method is
 *              private: called through a bound closure, as php/asterisk-conf.php does);
 *   features:  FeaturesConf::generateConfig()'s features.conf (MikoPBX's transfer codes: Core's
 *              routes Dial with T and K, so they apply to the routed call's ;2 half).
 */

declare(strict_types=1);

require_once 'Globals.php';
require_once __DIR__ . '/fixtures.php';

use MikoPBX\Common\Models\OutgoingRoutingTable;
use MikoPBX\Core\Asterisk\Configs\ExtensionsConf;
use MikoPBX\Core\Asterisk\Configs\FeaturesConf;
use MikoPBX\Core\System\Directories;
use MikoPBX\Core\Asterisk\Configs\Generators\Extensions\OutgoingContext;

$spec = json_decode($argv[1] ?? '', true, 16, JSON_THROW_ON_ERROR);
// Only the test's routes: Core's shipped database comes with a sample route of its own.
foreach (OutgoingRoutingTable::find() as $old) {
    if (!$old->delete()) {
        throw new RuntimeException('route not deleted: ' . implode('; ', array_map('strval', $old->getMessages())));
    }
}
$providers = [];
foreach ($spec['providers'] as $key) {
    $providers[$key] = rig_add_provider("Route test {$key}", '127.0.0.1', "far-{$key}");
}
foreach ($spec['routes'] as $n => $r) {
    $route                   = new OutgoingRoutingTable();
    $route->rulename         = 'Route ' . ($n + 1);
    $route->providerid       = $providers[$r['provider']];
    $route->priority         = (string)$r['priority'];
    $route->numberbeginswith = (string)($r['numberbeginswith'] ?? '');
    $route->restnumbers      = (string)($r['restnumbers'] ?? '9');
    $route->trimfrombegin    = (string)($r['trimfrombegin'] ?? '0');
    $route->prepend          = (string)($r['prepend'] ?? '');
    rig_save($route);
}

$other = '';
(function () use (&$other): void {
    $this->generateOtherExten($other);
})->call(new ExtensionsConf());

(new FeaturesConf())->generateConfig();
$features = (string)file_get_contents(Directories::getDir(Directories::AST_ETC_DIR) . '/features.conf');

echo json_encode([
    'providers' => $providers,
    'outgoing'  => OutgoingContext::generate(),
    'other'     => $other,
    'features'  => $features,
], JSON_UNESCAPED_SLASHES), "\n";
