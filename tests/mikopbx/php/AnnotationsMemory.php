<?php

/*
 * Bridge for phalcon/phalcon v6. Core's ModelsAnnotationsProvider does `new Memory()` with
 * Phalcon 5's meaning: an annotations adapter that is itself the annotations service
 * (->get($class) returns the class's annotations). In v6 that class name is a storage adapter
 * whose constructor needs a SerializerFactory, and the service is Phalcon\Annotations\Annotations.
 * Declared before the autoloader could load v6's file, this class gives Core's provider (and its
 * recreateAnnotationsProvider(), which Core calls after module tables change) the Phalcon 5
 * behaviour: v6's Annotations over memory storage, reading docblocks (DocblockReader.php).
 */

declare(strict_types=1);

namespace Phalcon\Annotations\Adapter;

use ConflinkRig\AnnotationsStore;
use ConflinkRig\DocblockReader;
use Phalcon\Annotations\Annotations;
use Phalcon\Storage\SerializerFactory;

class Memory extends Annotations
{
    public function __construct()
    {
        parent::__construct(new AnnotationsStore(new SerializerFactory()));
        $this->setReader(new DocblockReader());
    }
}
