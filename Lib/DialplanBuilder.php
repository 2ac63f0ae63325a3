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

namespace Modules\ModuleConferenceLink\Lib;

use InvalidArgumentException;

/**
 * Renders the static `conflink-join` dialplan context (design.md contract).
 *
 * Plain PHP on purpose: `bin/conflink-dialplan.php` and the lab tests use it without Phalcon.
 *
 * Per-link settings travel as channel variables set by the worker's Originate, so the context
 * is the same for every link and room and editing a link never needs a dialplan reload.
 * Every variable is passed through FILTER() before use: the worker only sends validated
 * values, but the dialplan must not trust a channel variable to be safe for an application
 * argument list (commas, parentheses, `${`).
 *
 * Order follows MikoPBX core's conference participant steps (ConferenceConf::extensionGenContexts):
 * CDR start with AGI(meetme_dial.php), then the hangup handler that closes the CDR row, then
 * ConfBridge user options and ConfBridge(room). Core's Local-channel redirect loop, Answer()
 * and Gosub(set-answer-state) are left out: our leg is a PJSIP channel that is already
 * answered when Originate hands it to the dialplan, and set-answer-state only reports to the
 * calling phone's channel, which this leg does not have. No PIN is asked (we never go through
 * `conference-rooms`).
 */
final class DialplanBuilder
{
    public const DEFAULT_CONTEXT = 'conflink-join';

    /** MikoPBX core context that closes the conference participant's CDR row. */
    public const HANGUP_HANDLER = 'hangup_handler_meetme';

    /** MikoPBX core AGI script that opens the conference participant's CDR row. */
    public const CDR_AGI = 'meetme_dial.php';

    /** Upper bound for the DTMF delay the dialplan honours (validator allows 0–60 s). */
    public const MAX_DTMF_DELAY_MS = 60000;

    /** Pause between DTMF tones in milliseconds (SendDTMF's default, stated explicitly). */
    public const DTMF_INTER_DIGIT_MS = 250;

    private string $context;

    public function __construct(string $context = self::DEFAULT_CONTEXT)
    {
        if (preg_match('/^[A-Za-z0-9_-]{1,79}$/D', $context) !== 1) {
            throw new InvalidArgumentException('dialplan.join_context: must match ^[A-Za-z0-9_-]{1,79}$');
        }
        $this->context = $context;
    }

    public function getContext(): string
    {
        return $this->context;
    }

    /**
     * The dialplan text of the join context, ending with a blank line.
     */
    public function build(): string
    {
        $maxDelay = self::MAX_DTMF_DELAY_MS;
        $gap      = self::DTMF_INTER_DIGIT_MS;
        $lines    = [
            "[{$this->context}]",
            '; ModuleConferenceLink: the external leg, originated by the conflink worker into room ${EXTEN}.',
            '; Variables: CONFLINK_LINK, CONFLINK_ROOM, CONFLINK_DTMF, CONFLINK_DTMF_DELAY_MS, optional CONFLINK_NUMBER.',
            'exten => _X!,1,Set(CONFLINK_LINK=${FILTER(A-Za-z0-9_,${CONFLINK_LINK})})',
            '    same => n,NoOp(ConferenceLink external leg: link ${CONFLINK_LINK}, room ${EXTEN})',
            '    same => n,Set(CONFLINK_DTMF=${FILTER(0-9*#ABCDwW,${CONFLINK_DTMF})})',
            '    same => n,Set(CONFLINK_DTMF_DELAY_MS=${FILTER(0-9,${CONFLINK_DTMF_DELAY_MS})})',
            '    same => n,ExecIf($["${CONFLINK_DTMF_DELAY_MS}" = ""]?Set(CONFLINK_DTMF_DELAY_MS=0))',
            "    same => n,ExecIf(\$[\${CONFLINK_DTMF_DELAY_MS} > {$maxDelay}]?Set(CONFLINK_DTMF_DELAY_MS={$maxDelay}))",
            // Call history shows the participant's CALLERID(num); make it the dialled number.
            '    same => n,Set(CONFLINK_NUMBER=${FILTER(0-9*#+,${CONFLINK_NUMBER})})',
            '    same => n,ExecIf($["${CONFLINK_NUMBER}" != ""]?Set(CALLERID(num)=${CONFLINK_NUMBER}))',
            '    same => n,AGI(' . self::CDR_AGI . ')',
            // wipe, like core: exactly one handler, the one that closes this leg's CDR row.
            '    same => n,Set(CHANNEL(hangup_handler_wipe)=' . self::HANGUP_HANDLER . ',s,1)',
            '    same => n,ExecIf($["${CONFLINK_DTMF}" != "" & ${CONFLINK_DTMF_DELAY_MS} > 0]?Wait($[${CONFLINK_DTMF_DELAY_MS} / 1000]))',
            "    same => n,ExecIf(\$[\"\${CONFLINK_DTMF}\" != \"\"]?SendDTMF(\${CONFLINK_DTMF},{$gap}))",
            '    same => n,Set(CONFBRIDGE(user,quiet)=yes)',
            '    same => n,Set(CONFBRIDGE(user,music_on_hold_when_empty)=no)',
            '    same => n,Set(CONFBRIDGE(user,announce_only_user)=no)',
            '    same => n,Set(CONFBRIDGE(user,talk_detection_events)=yes)',
            '    same => n,ConfBridge(${EXTEN})',
            '    same => n,Hangup()',
            '',
        ];

        return implode("\n", $lines) . "\n";
    }
}
