<?php

/*
 * Core records a test needs (a conference room, a SIP provider), created through Core's own
 * models as the admin pages do, so Core's model events and relations apply.
 * Each function returns the created record's key fields.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\Extensions;
use MikoPBX\Common\Models\Providers;
use MikoPBX\Common\Models\Sip;

function rig_save(Phalcon\Mvc\Model $m): void
{
    if (!$m->save()) {
        throw new RuntimeException(get_class($m) . ' not saved: ' . implode('; ', array_map('strval', $m->getMessages())));
    }
}

/** @return array{uniqid: string, extension: string} */
function rig_add_room(string $extension, string $name): array
{
    $ext           = new Extensions();
    $ext->number   = $extension;
    $ext->type     = Extensions::TYPE_CONFERENCE;
    $ext->callerid = $name;
    $ext->public_access = '0';
    $ext->show_in_phonebook = '1';
    rig_save($ext);
    $room            = new ConferenceRooms();
    $room->uniqid    = ConferenceRooms::generateUniqueID('CONFERENCE-');
    $room->extension = $extension;
    $room->name      = $name;
    rig_save($room);
    return ['uniqid' => $room->uniqid, 'extension' => $extension];
}

/** An outbound-registration SIP provider, as the Providers page creates one. */
function rig_add_provider(string $description, string $host = '127.0.0.1', string $username = 'far'): string
{
    $uniqid               = Sip::generateUniqueID('SIP-TRUNK-');
    $sip                  = new Sip();
    $sip->uniqid          = $uniqid;
    $sip->type            = 'friend';
    $sip->registration_type = 'none';
    $sip->host            = $host;
    $sip->port            = '5060';
    $sip->username        = $username;
    $sip->secret          = 'rig-secret';
    $sip->description     = $description;
    $sip->disabled        = '0';
    rig_save($sip);
    $provider         = new Providers();
    $provider->uniqid = $uniqid;
    $provider->type   = 'SIP';
    $provider->sipuid = $uniqid;
    $provider->note   = $description;
    rig_save($provider);
    return $uniqid;
}
