<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use InvalidArgumentException;

/**
 * The module's own AMI user for manager.conf (appended by core after its built-in users).
 *
 * Least privilege for what the worker does:
 * - read  system: FullyBooted, Shutdown (panoramisk's resend logic also keys on FullyBooted);
 *         call:   Confbridge*, OriginateResponse, Hangup, DialBegin/DialEnd, Newchannel,
 *                 ChannelTalkingStart/Stop (TALK_DETECT on the external leg: far-end prompts and state);
 *         user:   UserEvent ConflinkDtmf (the join dialplan's DTMF step reports), ConflinkFailed
 *                 (a failed attempt's stand-in asks for the cause of its call-history row);
 *         dtmf:   DTMFEnd, so keys pressed by people in a room reach the far end (room_keys)
 *                 without touching the room's own dialplan or ConfBridge menu.
 * - write originate: Originate (Context/Exten form, no Application, so no `system` needed);
 *         call: Hangup, ConfbridgeKick, Setvar (CONFLINK_GO releases a `p` step, CONFLINK_CAUSE answers
 *               ConflinkFailed), ConfbridgeMute/Unmute,
 *               PlayDTMF; reporting: ConfbridgeList, ConfbridgeListRooms, CoreShowChannels.
 * Event filters keep only the events the worker uses (a busy PBX sends Newexten, VarSet, RTCP…
 * by the thousand). Legacy regex filters match anywhere in the event text, so e.g.
 * "Event: Hangup" also lets HangupRequest through; the worker ignores those.
 */
final class ManagerConfBuilder
{
    public const READ = 'system,call,user,dtmf';
    public const WRITE = 'originate,call,reporting';

    /** Events the worker consumes. */
    public const EVENTS = [
        'FullyBooted',
        'Shutdown',
        'ConfbridgeStart',
        'ConfbridgeJoin',
        'ConfbridgeLeave',
        'ConfbridgeEnd',
        'OriginateResponse',
        'Newchannel',
        'DialBegin',
        'DialEnd',
        'Hangup',
        'ChannelTalkingStart',
        'ChannelTalkingStop',
        'UserEvent',
        // room controls
        'DTMFEnd',
        'ConfbridgeMute',
        'ConfbridgeUnmute',
    ];

    public static function section(string $username, string $secret): string
    {
        if (preg_match('/^[A-Za-z0-9_.@-]{1,64}$/D', $username) !== 1) {
            throw new InvalidArgumentException('ami.username: must match ^[A-Za-z0-9_.@-]{1,64}$');
        }
        // manager.conf has no quoting: ';' starts a comment, so only a plain token is safe.
        if (preg_match('/^[A-Za-z0-9_.@-]{8,128}$/D', $secret) !== 1) {
            throw new InvalidArgumentException('ami.secret: must be 8-128 of A-Z a-z 0-9 _ . @ -');
        }
        $lines = [
            "[{$username}]",
            "secret={$secret}",
            'deny=0.0.0.0/0.0.0.0',
            'permit=127.0.0.1/255.255.255.255',
            'read=' . self::READ,
            'write=' . self::WRITE,
        ];
        foreach (self::EVENTS as $event) {
            $lines[] = "eventfilter=Event: {$event}";
        }

        return implode("\n", $lines) . "\n\n";
    }
}
