<?php

/*
 * The rig's stand-in for Core's src/Core/Config/Globals.php (what every Core worker and the
 * module's worker `require_once 'Globals.php'` through include_path). It does what Core's does —
 * a Phalcon CLI DI, Core's own ClassLoader, Core's own RegisterDIServices::init() — plus the
 * bridges phalcon/phalcon v6 needs and stand-ins for what is neither MikoPBX nor Phalcon.
 * Each is listed in docs/testing.md with why.
 */

declare(strict_types=1);

use Phalcon\Di\FactoryDefault\Cli;

(static function (): void {
    $session = json_decode((string)file_get_contents(__DIR__ . '/session.json'), true);
    // On a PBX Phalcon is a C extension, always loaded; here it is PHP: load it before the DI.
    require_once $session['core'] . '/vendor/autoload.php';
    require_once __DIR__ . '/standins.php';
    require_once __DIR__ . '/pheanstalk.php';
    require_once __DIR__ . '/DocblockReader.php';
    require_once __DIR__ . '/AnnotationsMemory.php';

    $di = new Cli();
    // Bridge: v6's CLI factory lacks the service Model::fireEvent() uses (FactoryDefault has it).
    $di->setShared('modelsEventFactory', Phalcon\Db\Event\Factory::class);

    require_once $session['core'] . '/src/Common/Config/ClassLoader.php';
    MikoPBX\Core\Config\RegisterDIServices::init();

})();
