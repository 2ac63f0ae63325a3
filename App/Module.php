<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — links a MikoPBX conference room to an external party.
 */

namespace Modules\ModuleConferenceLink\App;

use Phalcon\Di\DiInterface;
use Phalcon\Events\Manager;
use Phalcon\Mvc\Dispatcher;
use Phalcon\Mvc\ModuleDefinitionInterface;

/**
 * Web routing entry point: core looks for this class to route
 * /admin-cabinet/module-conference-link/... to the module's controllers.
 */
class Module implements ModuleDefinitionInterface
{
    public function registerAutoloaders(?DiInterface $container = null): void
    {
        // Core's class loader already maps Modules\ to the modules directory.
    }

    public function registerServices(DiInterface $container): void
    {
        $container->set('dispatcher', static function (): Dispatcher {
            $dispatcher = new Dispatcher();
            $dispatcher->setEventsManager(new Manager());
            $dispatcher->setDefaultNamespace('Modules\\ModuleConferenceLink\\App\\Controllers\\');
            return $dispatcher;
        });
    }
}
