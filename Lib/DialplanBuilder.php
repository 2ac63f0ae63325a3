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

    /** Upper bound for the wait before joining while "connected" is announced. */
    public const MAX_ANNOUNCE_WAIT_MS = 5000;

    /** Pause between DTMF tones in milliseconds (SendDTMF's default, stated explicitly). */
    public const DTMF_INTER_DIGIT_MS = 250;

    /** prompt_silence in ms: default, min, max (python-worker/conflink/config.py is the source). */
    public const PROMPT_SILENCE_MS = [1000, 200, 5000];

    /** prompt_timeout in ms: default, min, max (python-worker/conflink/config.py is the source). */
    public const PROMPT_TIMEOUT_MS = [20000, 1000, 120000];

    /** dtmf_mode values that switch the channel's PJSIP DTMF mode (`auto` keeps the endpoint's). */
    public const DTMF_MODES = ['rfc4733', 'inband', 'info'];

    /**
     * The ;2 half of a call dialled through the PBX's outgoing routes (link key dial_via = routes;
     * conflink.config ROUTE_CONTEXT): the worker originates Local/<number>@<this>/n.
     */
    public const ROUTE_CONTEXT = 'conflink-route';

    /** MikoPBX core's context that matches the outgoing routes (OutgoingContext::makeDialplan). */
    public const CORE_OUTGOING = 'outgoing';

    /** The number a link dials (conflink.config PATTERNS['number'], LinkValidator::NUMBER_RE). */
    public const NUMBER_REGEX = '^[0-9+*#]{1,32}$';

    /** UserEvent name of the DTMF step reports the worker logs. */
    public const DTMF_EVENT = 'ConflinkDtmf';

    /** Seconds past prompt_timeout the dialplan waits for the worker's release on its own. */
    public const PROMPT_RELEASE_GRACE_S = 5;

    /** WaitForCondition polling interval in seconds: the release reaches the digits this fast. */
    public const PROMPT_POLL_S = '0.02';

    /**
     * Asterisk modules the context needs beyond MikoPBX's default list (generateModulesConf);
     * func_module's IFMODULE lets the worker ask whether the first two loaded (conflink.config
     * FAR_END_MODULES) without the AMI `system` right ModuleCheck needs.
     */
    public const REQUIRED_MODULES = ['func_talkdetect.so', 'app_waitforcond.so', 'func_module.so'];

    private string $context;

    public function __construct(string $context = self::DEFAULT_CONTEXT)
    {
        if (preg_match('/^[A-Za-z0-9_-]{1,79}$/D', $context) !== 1) {
            throw new InvalidArgumentException('dialplan.join_context: must match ^[A-Za-z0-9_-]{1,79}$');
        }
        $this->context = $context;
    }

    /** `load => …` lines for modules.conf (MikoPBX asks each module through generateModulesConf). */
    public static function modulesConf(): string
    {
        $out = '';
        foreach ([...self::REQUIRED_MODULES, ...CallHistoryDialplan::REQUIRED_MODULES] as $module) {
            $out .= "load => {$module}\n";
        }

        return $out;
    }

    public function getContext(): string
    {
        return $this->context;
    }

    /**
     * The dialplan text of the join context, ending with a blank line.
     *
     * A `p` in CONFLINK_DTMF splits the sequence into steps. Before each step after a `p`, the
     * channel announces the step (UserEvent ConflinkDtmf, Phase: prompt) and waits in
     * WaitForCondition until the worker sets CONFLINK_GO to the step number: the worker decides
     * from TALK_DETECT's ChannelTalkingStart/Stop events on this channel (the far end spoke,
     * then stayed silent for CONFLINK_PROMPT_SILENCE_MS) or from its own prompt_timeout timer.
     * WaitForCondition's own timeout (prompt timeout + 5 s) keeps a call going when the worker
     * is gone. Each step's digits go out with SendDTMF, then UserEvent Phase: sent (a digit
     * count, never the digits: they are passcodes). See docs/architecture.md for the choice.
     */
    public function build(): string
    {
        $maxDelay = self::MAX_DTMF_DELAY_MS;
        $maxAnnounce = self::MAX_ANNOUNCE_WAIT_MS;
        $gap      = self::DTMF_INTER_DIGIT_MS;
        [$silDefault, $silMin, $silMax] = self::PROMPT_SILENCE_MS;
        [$toDefault, $toMin, $toMax]    = self::PROMPT_TIMEOUT_MS;
        $grace    = self::PROMPT_RELEASE_GRACE_S;
        $poll     = self::PROMPT_POLL_S;
        $event    = self::DTMF_EVENT;
        $stepHdr  = 'Step: ${CONFLINK_STEP},Steps: ${CONFLINK_STEPS}';
        $modes    = implode(' | ', array_map(
            static fn (string $m): string => "\"\${CONFLINK_DTMF_MODE}\" = \"{$m}\"",
            self::DTMF_MODES
        ));
        $history  = "    same => n,ExecIf(\$[\"\${CONFLINK_DIAL_VIA}\" != \"routes\"]?Set(CHANNEL(hangup_handler_push)={$this->context},"
            . CallHistoryDialplan::HANDLER . ',1))';
        $lines    = [
            "[{$this->context}]",
            '; ModuleConferenceLink: the external leg, originated by the conflink worker into room ${EXTEN}.',
            '; Variables: CONFLINK_LINK, CONFLINK_ROOM, CONFLINK_DTMF, CONFLINK_DTMF_DELAY_MS, optional CONFLINK_NUMBER,',
            '; CONFLINK_PROMPT_SILENCE_MS, CONFLINK_PROMPT_TIMEOUT_MS, CONFLINK_DTMF_MODE; CONFLINK_GO is set by the worker.',
            'exten => _X!,1,Set(CONFLINK_LINK=${FILTER(A-Za-z0-9_,${CONFLINK_LINK})})',
            // Call history (CallHistoryDialplan): the answer time, and the row's hangup handler from
            // the first moment (a far end that hangs up at once still gets its row).
            '    same => n,Set(CONFLINK_ANSWER=${STRFTIME(,,%s.%3q)})',
            '    same => n,Set(CONFLINK_DIAL_VIA=${FILTER(a-z,${CONFLINK_DIAL_VIA})})',
            $history,
            '    same => n,NoOp(ConferenceLink external leg: link ${CONFLINK_LINK}, room ${EXTEN})',
            '    same => n,Set(CONFLINK_DTMF=${FILTER(0-9*#ABCDwWp,${CONFLINK_DTMF})})',
            '    same => n,Set(CONFLINK_DTMF_DELAY_MS=${FILTER(0-9,${CONFLINK_DTMF_DELAY_MS})})',
            '    same => n,ExecIf($["${CONFLINK_DTMF_DELAY_MS}" = ""]?Set(CONFLINK_DTMF_DELAY_MS=0))',
            "    same => n,ExecIf(\$[\${CONFLINK_DTMF_DELAY_MS} > {$maxDelay}]?Set(CONFLINK_DTMF_DELAY_MS={$maxDelay}))",
            '    same => n,Set(CONFLINK_PROMPT_SILENCE_MS=${FILTER(0-9,${CONFLINK_PROMPT_SILENCE_MS})})',
            "    same => n,ExecIf(\$[\"\${CONFLINK_PROMPT_SILENCE_MS}\" = \"\"]?Set(CONFLINK_PROMPT_SILENCE_MS={$silDefault}))",
            "    same => n,ExecIf(\$[\${CONFLINK_PROMPT_SILENCE_MS} < {$silMin}]?Set(CONFLINK_PROMPT_SILENCE_MS={$silMin}))",
            "    same => n,ExecIf(\$[\${CONFLINK_PROMPT_SILENCE_MS} > {$silMax}]?Set(CONFLINK_PROMPT_SILENCE_MS={$silMax}))",
            '    same => n,Set(CONFLINK_PROMPT_TIMEOUT_MS=${FILTER(0-9,${CONFLINK_PROMPT_TIMEOUT_MS})})',
            "    same => n,ExecIf(\$[\"\${CONFLINK_PROMPT_TIMEOUT_MS}\" = \"\"]?Set(CONFLINK_PROMPT_TIMEOUT_MS={$toDefault}))",
            "    same => n,ExecIf(\$[\${CONFLINK_PROMPT_TIMEOUT_MS} < {$toMin}]?Set(CONFLINK_PROMPT_TIMEOUT_MS={$toMin}))",
            "    same => n,ExecIf(\$[\${CONFLINK_PROMPT_TIMEOUT_MS} > {$toMax}]?Set(CONFLINK_PROMPT_TIMEOUT_MS={$toMax}))",
            // auto (or anything else) keeps the endpoint's own dtmf_mode.
            '    same => n,Set(CONFLINK_DTMF_MODE=${FILTER(a-z0-9,${CONFLINK_DTMF_MODE})})',
            "    same => n,ExecIf(\$[{$modes}]?Set(PJSIP_DTMF_MODE()=\${CONFLINK_DTMF_MODE}))",
            // Call history shows the participant's CALLERID(num); make it the dialled number.
            '    same => n,Set(CONFLINK_NUMBER=${FILTER(0-9*#+,${CONFLINK_NUMBER})})',
            '    same => n,ExecIf($["${CONFLINK_NUMBER}" != ""]?Set(CALLERID(num)=${CONFLINK_NUMBER}))',
            '    same => n,AGI(' . self::CDR_AGI . ')',
            // wipe, like core: exactly one handler, the one that closes this leg's CDR row.
            '    same => n,Set(CHANNEL(hangup_handler_wipe)=' . self::HANGUP_HANDLER . ',s,1)',
            $history, // again: the wipe removed it; both handlers run at hang-up
            // The far end's speech/silence as AMI events for the whole call (prompts, lobby music,
            // dead air), also once the channel is in the ConfBridge.
            '    same => n,Set(TALK_DETECT(set)=${CONFLINK_PROMPT_SILENCE_MS})',
            '    same => n,ExecIf($["${CONFLINK_DTMF}" != "" & ${CONFLINK_DTMF_DELAY_MS} > 0]?Wait($[${CONFLINK_DTMF_DELAY_MS} / 1000]))',
            '    same => n,GotoIf($["${CONFLINK_DTMF}" = ""]?join)',
            '    same => n,Set(CONFLINK_STEPS=${FIELDQTY(CONFLINK_DTMF,p)})',
            '    same => n,Set(CONFLINK_STEP=1)',
            '    same => n(step),Set(CONFLINK_DIGITS=${CUT(CONFLINK_DTMF,p,${CONFLINK_STEP})})',
            '    same => n,GotoIf($[${CONFLINK_STEP} = 1]?send)',
            '    same => n,Set(CONFLINK_GO=)',
            "    same => n,UserEvent({$event},{$stepHdr},Phase: prompt)",
            // TryExec: a PBX without app_waitforcond must not drop the call; it waits the bound.
            "    same => n,TryExec(WaitForCondition(~,~[\"~{CONFLINK_GO}\" = \"\${CONFLINK_STEP}\"],\$[\${CONFLINK_PROMPT_TIMEOUT_MS} / 1000 + {$grace}],{$poll}))",
            '    same => n,GotoIf($["${TRYSTATUS}" != "NOAPP"]?send)',
            '    same => n,Wait($[${CONFLINK_PROMPT_TIMEOUT_MS} / 1000])',
            "    same => n(send),ExecIf(\$[\"\${CONFLINK_DIGITS}\" != \"\"]?SendDTMF(\${CONFLINK_DIGITS},{$gap}))",
            '    same => n,GotoIf($["${CONFLINK_DIGITS}" = "" & ${CONFLINK_STEP} = 1]?next)',
            "    same => n,UserEvent({$event},{$stepHdr},Phase: sent,Digits: \${LEN(\${CONFLINK_DIGITS})})",
            '    same => n(next),Set(CONFLINK_STEP=$[${CONFLINK_STEP} + 1])',
            '    same => n,GotoIf($[${CONFLINK_STEP} <= ${CONFLINK_STEPS}]?step)',
            // Announcements on (CONFLINK_ANNOUNCE_MS): the room hears "connected" before this call
            // is in it, so the far end never does (ConfBridge cannot keep a sound from a member).
            '    same => n(join),Set(CONFLINK_ANNOUNCE_MS=0${FILTER(0-9,${CONFLINK_ANNOUNCE_MS})})',
            "    same => n,ExecIf(\$[\${CONFLINK_ANNOUNCE_MS} > {$maxAnnounce}]?Set(CONFLINK_ANNOUNCE_MS={$maxAnnounce}))",
            '    same => n,ExecIf($[${CONFLINK_ANNOUNCE_MS} > 0]?Wait($[${CONFLINK_ANNOUNCE_MS} / 1000]))',
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

    /**
     * The announcer's context, `<join context>-announce` (link key `announce`): the worker
     * originates Local/<room>@<this>/n with Application=Playback; this half joins the room
     * quietly, the other half plays the sound into it, and when it ends both hang up. Its
     * Uniqueid starts conflinkann-: the worker counts it as neither a participant nor a call.
     */
    public function buildAnnounce(): string
    {
        $lines = [
            "[{$this->context}-announce]",
            '; ModuleConferenceLink: plays an announcement into room ${EXTEN} (its other half runs Playback).',
            'exten => _X!,1,Set(CONFBRIDGE(user,quiet)=yes)',
            '    same => n,Set(CONFBRIDGE(user,music_on_hold_when_empty)=no)',
            '    same => n,Set(CONFBRIDGE(user,announce_only_user)=no)',
            '    same => n,ConfBridge(${EXTEN})',
            '    same => n,Hangup()',
            '',
        ];

        return implode("\n", $lines) . "\n";
    }

    /**
     * `[conflink-route]`: the ;2 half of a routed call (Originate Channel
     * Local/<number>@conflink-route/n; the ;1 half is our call in the room). It checks the
     * number against the link's number pattern (the channel name is the only place it travels
     * unfiltered), turns off the feature codes Core's Dial options would give it (the DTMF it
     * carries is the worker's, never a transfer), sets the link's caller ID when one is given
     * (CONFLINK_CALLERID), and hands the number to Core's `[outgoing]`: its routes'
     * prepend/trim, provider failover, custom
     * hooks and Core's own call history (Lua `dial`) then apply as to a phone's call. A number
     * that fails the check hangs up with cause 28 (invalid number format).
     */
    public function buildRoute(): string
    {
        $route    = self::ROUTE_CONTEXT;
        $outgoing = self::CORE_OUTGOING;
        $pattern  = self::NUMBER_REGEX;
        $lines    = [
            "[{$route}]",
            '; ModuleConferenceLink: a call of link ${CONFLINK_LINK} to ${EXTEN} through the PBX\'s outgoing routes.',
            "exten => _[0-9+*#]!,1,GotoIf(\$[\${REGEX(\"{$pattern}\" \${EXTEN})} = 1]?number)",
            '    same => n,Hangup(28)',
            // Core's routes Dial with T and K: this half may transfer or park its peer with
            // DTMF. Its DTMF is the worker's (dial-in sequence, keys from the room), so MikoPBX's
            // feature codes (** blind, ## attended transfer) must reach the far end as digits.
            '    same => n(number),Set(FEATUREMAP(blindxfer)=)',
            '    same => n,Set(FEATUREMAP(atxfer)=)',
            '    same => n,Set(FEATUREMAP(parkcall)=)',
            '    same => n,Set(CONFLINK_CALLERID=${FILTER(0-9+,${CONFLINK_CALLERID})})',
            '    same => n,ExecIf($["${CONFLINK_CALLERID}" != ""]?Set(CALLERID(all)=${CONFLINK_CALLERID} <${CONFLINK_CALLERID}>))',
            "    same => n,Goto({$outgoing},\${EXTEN},1)",
            '',
        ];

        return implode("\n", $lines) . "\n";
    }

    /**
     * Every context of the module: the join context (its join path, then its call-history
     * extensions), the announcer's, the routed calls'.
     */
    public function buildAll(): string
    {
        return $this->build() . CallHistoryDialplan::extensions() . $this->buildAnnounce() . $this->buildRoute();
    }
}
