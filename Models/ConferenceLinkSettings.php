<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Models;

use MikoPBX\Modules\Models\ModulesModelsBase;

/**
 * Single-row module settings: the module's own AMI user and the worker's control channel.
 * Filled by Setup\PbxExtensionSetup::installDB() (see Lib/Credentials.php).
 */
class ConferenceLinkSettings extends ModulesModelsBase
{
    /**
     * @Primary
     * @Identity
     * @Column(type="integer", nullable=false)
     */
    public $id;

    /**
     * @Column(type="string", nullable=true)
     */
    public ?string $ami_username = '';

    /**
     * @Column(type="string", nullable=true)
     */
    public ?string $ami_secret = '';

    /**
     * @Column(type="string", nullable=true)
     */
    public ?string $control_token = '';

    /**
     * TCP port of the worker's control socket on 127.0.0.1.
     *
     * @Column(type="integer", nullable=true, default="7391")
     */
    public $control_port = '7391';

    public function initialize(): void
    {
        $this->setSource('m_ConferenceLinkSettings');
        parent::initialize();
    }
}
