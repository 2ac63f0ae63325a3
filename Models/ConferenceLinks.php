<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 *
 * This program is free software: you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Models;

use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\Providers;
use MikoPBX\Modules\Models\ModulesModelsBase;
use Phalcon\Mvc\Model\Relation;

/**
 * One link: keep an external party (number via a SIP provider) in a conference room.
 * Columns and rules: see Lib/LinkValidator.php (the server-side authority).
 *
 * @Indexes(
 *     [name='conference_uniqid', columns=['conference_uniqid'], type=''],
 *     [name='provider_uniqid', columns=['provider_uniqid'], type='']
 * )
 */
class ConferenceLinks extends ModulesModelsBase
{
    /**
     * @Primary
     * @Identity
     * @Column(type="integer", nullable=false)
     */
    public $id;

    /**
     * Conference room (ConferenceRooms.uniqid). Its number (extension, the ConfBridge name) is
     * looked up whenever the worker config is rendered, so renumbering a room keeps the link.
     * 0.1.0 stored the number in conference_extension; Setup\PbxExtensionSetup migrates it.
     * Nullable with a default so core's table copy never fails on a row it cannot fill.
     *
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $conference_uniqid = '';

    /**
     * SIP provider (Providers.uniqid = Sip.uniqid); '' when the link dials through the PBX's
     * outgoing routes (dial_via).
     *
     * @Column(type="string", nullable=false)
     */
    public ?string $provider_uniqid = '';

    /**
     * Number dialled through the provider, exactly as the provider wants it.
     *
     * @Column(type="string", nullable=false)
     */
    public ?string $dst_number = '';

    /**
     * DTMF sent after answer (canonical: 0-9 * # A-D w W).
     *
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $dtmf = '';

    /**
     * Seconds from answer to the first digit.
     *
     * @Column(type="string", nullable=true, default="1")
     */
    public ?string $dtmf_delay = '1';

    /**
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $callerid = '';

    /**
     * @Column(type="integer", nullable=true, default="60")
     */
    public $ring_timeout = '60';

    /**
     * @Column(type="string", nullable=true, default="0")
     */
    public ?string $arm_delay = '0';

    /**
     * @Column(type="string", nullable=true, default="0")
     */
    public ?string $linger = '0';

    /**
     * @Column(type="integer", nullable=true, default="5")
     */
    public $max_attempts = '5';

    /**
     * Comma-separated seconds; the last value repeats.
     *
     * @Column(type="string", nullable=true, default="5,15,30,60,120")
     */
    public ?string $backoff = '5,15,30,60,120';

    /**
     * @Column(type="string", length=1, nullable=true, default="1")
     */
    public ?string $redial_on_drop = '1';

    /**
     * @Column(type="string", length=1, nullable=true, default="1")
     */
    public ?string $enabled = '1';

    /**
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $description = '';

    // Added in 0.2.0. Core adds them to a 0.1.0 table with ALTER TABLE … DEFAULT, so existing
    // rows read as preset "custom" with their old DTMF and today's timing; the validator also
    // reads NULL in these columns as the default.

    /**
     * Dial-in preset (Lib/DtmfPresets): zoom, teams, webex, meet, mts_link, pbx or custom.
     * For every preset but custom, `dtmf` holds the sequence built from the fields below.
     *
     * @Column(type="string", nullable=true, default="custom")
     */
    public ?string $preset = 'custom';

    /**
     * Meeting ID / conference ID / access code / PIN / room number, as the preset names it (digits).
     *
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $meeting_id = '';

    /**
     * Participant / attendee ID (digits; empty = skipped with #).
     *
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $participant_id = '';

    /**
     * Passcode / password / organizer PIN / room PIN (digits; empty = none).
     *
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $passcode = '';

    /**
     * `p` step: seconds of far-end silence that end a prompt.
     *
     * @Column(type="string", nullable=true, default="1")
     */
    public ?string $prompt_silence = '1';

    /**
     * `p` step: the most seconds one step waits.
     *
     * @Column(type="string", nullable=true, default="20")
     */
    public ?string $prompt_timeout = '20';

    /**
     * auto (the endpoint's own setting), rfc4733, inband or info.
     *
     * @Column(type="string", nullable=true, default="auto")
     */
    public ?string $dtmf_mode = 'auto';

    /**
     * Seconds of silence from the far end (RTP still flowing) before hang-up and redial; 0 = off.
     *
     * @Column(type="integer", nullable=true, default="0")
     */
    public $dead_air = '0';

    /**
     * Seconds to wait before redialling after the far end ended a long call ("meeting ended").
     *
     * @Column(type="integer", nullable=true, default="120")
     */
    public $end_cooldown = '120';

    /**
     * Keys from the room: a person in the room presses them and the external call sends them
     * to the far end (0-9 * # A-D, up to 8; '' = off). *6 toggles the line's mute in Zoom,
     * Teams, Webex and Meet. Off for a row from 0.1.0 (today's behaviour); the form starts a
     * new link with *6 (App/Lib/LinkInput::NEW_LINK).
     *
     * @Column(type="string", nullable=true, default="")
     */
    public ?string $room_keys = '';

    /**
     * Cost limit: the longest one external call may last, minutes (0 = no limit). Reached: the
     * call is hung up and not dialled again automatically until the next day.
     *
     * @Column(type="integer", nullable=true, default="0")
     */
    public $max_call_minutes = '0';

    /**
     * Cost limit: minutes of external calls per day in the PBX's time zone (0 = no limit).
     *
     * @Column(type="integer", nullable=true, default="0")
     */
    public $daily_minutes = '0';

    /**
     * Schedule: the weekly windows in which the link dials by itself, one per line, e.g.
     * "mon-fri 08:00-18:00" (the PBX's time zone); '' = always.
     *
     * @Column(type="text", nullable=true, default="")
     */
    public ?string $schedule = '';

    /**
     * A call up when its window ends: 'linger' = hung up after the link's linger, 'keep' =
     * kept until the room empties.
     *
     * @Column(type="string", nullable=true, default="linger")
     */
    public ?string $schedule_end = 'linger';

    /**
     * Announcements into the room (1/0): "connecting", "connected", "could not be reached",
     * heard by the people in the room only, in the PBX's language.
     *
     * @Column(type="integer", nullable=true, default="0")
     */
    public $announce = '0';

    /**
     * How the external call is dialled: 'provider' = through provider_uniqid, the number as
     * entered; 'routes' = through the PBX's outgoing routes (their prepend/trim, failover,
     * custom hooks), provider_uniqid then ''.
     *
     * @Column(type="string", nullable=true, default="provider")
     */
    public ?string $dial_via = 'provider';

    public function initialize(): void
    {
        $this->setSource('m_ConferenceLinks');
        parent::initialize();
        // '' is a value here, not "missing": a link through the PBX's outgoing routes has no
        // provider (Phalcon refuses '' in a NOT NULL column unless told so).
        $this->allowEmptyStringValues(['provider_uniqid']);
    }

    /**
     * How core names this link, e.g. in "in use" messages when a room or provider it uses is
     * deleted: core's default is the module name, which reads "Conference link Conference link"
     * inside repModuleConferenceLink and does not say which link. Ours names the room and the
     * number and links to the link's own page.
     */
    public function getRepresent(bool $needLink = false): string
    {
        if ($this->readAttribute('id') === null) {
            return parent::getRepresent($needLink);
        }
        $name = '<i class="puzzle piece icon"></i> ' . self::representText(
            self::roomNumber((string)$this->conference_uniqid),
            (string)$this->dst_number,
            (string)$this->description
        );
        if (!$needLink) {
            return $name;
        }
        $link = htmlspecialchars($this->getWebInterfaceLink(), ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
        return $this->t('repModuleConferenceLink', ['represent' => "<a href='{$link}'>{$name}</a>"]);
    }

    /** The room's number for people; its uniqid when the room is gone. */
    private static function roomNumber(string $uniqid): string
    {
        $room = $uniqid === '' ? null : ConferenceRooms::findFirst([
            'conditions' => 'uniqid = :uniqid:',
            'bind'       => ['uniqid' => $uniqid],
            'columns'    => 'extension',
        ]);

        return $room === null ? $uniqid : (string)$room->extension;
    }

    /** "2200 → 84957776675 (Weekly sync)", HTML-escaped: it is shown inside core's HTML message. */
    public static function representText(string $room, string $number, string $note): string
    {
        $text = $room . ' → ' . $number . ($note !== '' ? ' (' . $note . ')' : '');
        return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }

    /** The link's own page; core's default is the module's index page. */
    public function getWebInterfaceLink(): string
    {
        $index = parent::getWebInterfaceLink();
        $id = (string)$this->readAttribute('id');
        if ($id === '' || !str_ends_with($index, '/index')) {
            return $index;
        }
        return substr($index, 0, -strlen('index')) . 'modify/' . rawurlencode($id);
    }

    /**
     * Relations from core models to this one, added by core to ConferenceRooms and Providers
     * (ModelsBase::addExtensionModulesRelations) so that core refuses to delete a room or a
     * provider a link still uses.
     *
     * When the delete is refused, core's ModelsBase::onValidationFails reads the foreignKey
     * message to find the blocking records: current core takes it as the referenced model's
     * class and looks the alias up from the matching relation; cores before late 2025 pass the
     * message straight to getRelated() as an alias. Message and alias are therefore both this
     * class name, which both readings resolve; any other message makes core throw
     * "Error on models relationship" instead of listing the links.
     *
     * @param mixed $calledModelObject
     */
    public static function getDynamicRelations(&$calledModelObject): void
    {
        if (is_a($calledModelObject, ConferenceRooms::class)) {
            $calledModelObject->hasMany(
                'uniqid',
                self::class,
                'conference_uniqid',
                [
                    'alias'      => self::class,
                    'foreignKey' => [
                        'allowNulls' => 0,
                        'message'    => self::class,
                        'action'     => Relation::ACTION_RESTRICT,
                    ],
                ]
            );
        }
        if (is_a($calledModelObject, Providers::class)) {
            $calledModelObject->hasMany(
                'uniqid',
                self::class,
                'provider_uniqid',
                [
                    'alias'      => self::class,
                    'foreignKey' => [
                        'allowNulls' => 0,
                        'message'    => self::class,
                        'action'     => Relation::ACTION_RESTRICT,
                    ],
                ]
            );
        }
    }
}
