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

/**
 * Call history: every attempt of a link (dial_via provider) becomes ONE complete row in MikoPBX's
 * call history, written by Core's own CDR action `insert_cdr`
 * (WorkerCallEvents → Libs/WorkerCallEvents/ActionInsertCdr: the row goes into cdr_general as
 * given, matched by UNIQUEID, so a repeated event updates the row instead of adding one).
 * It is sent as Core's Lua sends its events: CELGenUserEvent(<base64 JSON>) and
 * UserEvent(CdrConnector,AgiData:<same>).
 *
 * Rendered as extensions of the join context (DialplanBuilder::buildAll puts them right after
 * the join path):
 * - `failed`: Asterisk runs it on an "OutgoingSpoolFailed" stand-in channel when the Originate
 *   fails, with the Originate's variables and REASON. REASON alone cannot name the cause
 *   (Asterisk 22: 0 for 486, 404, 503, 603 and a hang-up while ringing alike; 3 for the ring
 *   timeout) and the stand-in has no HANGUPCAUSE, so it asks the worker: UserEvent
 *   ConflinkFailed (CallId) and a bounded wait for CONFLINK_CAUSE, which the worker sets (AMI
 *   Setvar on the stand-in's Uniqueid) to the Asterisk cause of that call's Hangup event; the
 *   same wait-for-the-worker pattern as a DTMF `p` step. Without an answer (worker gone) the
 *   row falls back to REASON. The OriginateResponse waits for the stand-in, so the bound is short.
 * - `history`: the hangup handler of an answered attempt (pushed by the join path, next to
 *   Core's hangup_handler_meetme, which still closes the conference-participant row).
 * - `historyrow`: builds and sends the row; every value is filtered here, in one place.
 *
 * Ring time: end − CONFLINK_ATTEMPT_START for a failed attempt (its duration), answer − start
 * for an answered one. Durations are whole seconds of the truncated times, as Core's WorkerCdr
 * computes them (strtotime), and the disposition follows WorkerCdr::setDisposition.
 * With CONFLINK_DIAL_VIA = routes the call goes through Core's `[outgoing]`, whose Lua records
 * it: these extensions then record nothing (no duplicate rows).
 *
 * Plain PHP (no Phalcon), like DialplanBuilder.
 */
final class CallHistoryDialplan
{
    /** Extension of the join context: the answered attempt's hangup handler. */
    public const HANDLER = 'history';

    /** Extension of the join context that builds and sends one row (Gosub). */
    public const ROW = 'historyrow';

    /** UserEvent the `failed` stand-in sends; the worker answers with CONFLINK_CAUSE. */
    public const FAILED_EVENT = 'ConflinkFailed';

    /** Seconds the stand-in waits for the worker's cause (a live worker answers in milliseconds). */
    public const CAUSE_WAIT_S = 2;

    /** WaitForCondition polling interval in seconds. */
    public const CAUSE_POLL_S = '0.02';

    /**
     * Asterisk hangup cause → Core's dialstatus, as app_dial turns a callee's cause into
     * DIALSTATUS (handle_cause: busy, congestion, no answer; anything else counts as
     * "channel unavailable"). 16 before an answer is our own hang-up of a ringing call (the room
     * emptied): Core writes CANCEL when the calling side gives up.
     */
    public const CAUSE_DIALSTATUS = [
        17 => 'BUSY',
        34 => 'CONGESTION',
        19 => 'NOANSWER',
        16 => 'CANCEL',
    ];

    /** Dialstatus of any other cause (app_dial's "nochan"). */
    public const OTHER_DIALSTATUS = 'CHANUNAVAIL';

    /** Originate REASON → cause, only when the worker gave none (AST_CONTROL_RINGING/BUSY/CONGESTION). */
    public const REASON_CAUSE = [
        3 => 19,
        5 => 17,
        8 => 34,
    ];

    /** The dialstatus Core's Lua writes for an answered call (event_hangup_chan: ANSWER → ANSWERED). */
    public const ANSWERED = 'ANSWERED';

    /** Core's CDR time format (Lua getNowDate: STRFTIME %Y-%m-%d %H:%M:%S.%q). */
    public const TIME_FORMAT = '%Y-%m-%d %H:%M:%S.%3q';

    /** Asterisk modules the extensions need beyond MikoPBX's default list. */
    public const REQUIRED_MODULES = ['func_base64.so'];

    /**
     * What FILTER() keeps of each value before it enters the JSON (no quote, backslash or comma).
     * A '-' goes first: FILTER reads "x-y" as a range and drops a trailing '-'.
     */
    private const FILTERS = [
        'CONFLINK_DIAL_VIA' => 'a-z',
        'CONFLINK_CALL_ID' => '-A-Za-z0-9_',
        'CONFLINK_ROOM' => '0-9',
        'CONFLINK_NUMBER' => '0-9*#+',
        'CONFLINK_PROVIDER' => '-A-Za-z0-9_.~+',
        'CONFLINK_ATTEMPT_START' => '0-9.',
        'CONFLINK_ANSWER' => '0-9.',
        'CONFLINK_END' => '0-9.',
        'CONFLINK_DIALSTATUS' => 'A-Z',
        'CONFLINK_H_DST_CHAN' => '-A-Za-z0-9/_.~+@',
        'CONFLINK_H_DST_CALL_ID' => '-A-Za-z0-9_.~+@:',
        'CONFLINK_H_VERBOSE_ID' => '-A-Za-z0-9_',
    ];

    /** Dialstatus for a cause and an Originate REASON: the tables above, for tests and docs. */
    public static function dialstatus(int $cause, int $reason = 0): string
    {
        if ($cause === 0) {
            $cause = self::REASON_CAUSE[$reason] ?? 0;
        }

        return self::CAUSE_DIALSTATUS[$cause] ?? self::OTHER_DIALSTATUS;
    }

    /** The lines that make the REASON fallback and the cause table in the dialplan. */
    private static function mappingLines(): array
    {
        $lines = [];
        foreach (self::REASON_CAUSE as $reason => $cause) {
            $lines[] = "    same => n,ExecIf(\$[\${CONFLINK_CAUSE} = 0 & \"\${REASON}\" = \"{$reason}\"]?Set(CONFLINK_CAUSE={$cause}))";
        }
        $lines[] = '    same => n,Set(CONFLINK_DIALSTATUS=' . self::OTHER_DIALSTATUS . ')';
        foreach (self::CAUSE_DIALSTATUS as $cause => $status) {
            $lines[] = "    same => n,ExecIf(\$[\${CONFLINK_CAUSE} = {$cause}]?Set(CONFLINK_DIALSTATUS={$status}))";
        }

        return $lines;
    }

    /** The row as Core's insert_cdr takes it; every ${…} here was filtered in `historyrow`. */
    private static function rowJson(): string
    {
        $row = [
            'UNIQUEID' => '${CONFLINK_CALL_ID}',
            'linkedid' => '${CONFLINK_CALL_ID}',
            'start' => '${CONFLINK_H_START}',
            'answer' => '${CONFLINK_H_ANSWER}',
            'endtime' => '${CONFLINK_H_END}',
            'src_chan' => 'MeetMe:${CONFLINK_ROOM}',
            'src_num' => '${CONFLINK_ROOM}',
            'dst_chan' => '${CONFLINK_H_DST_CHAN}',
            'dst_num' => '${CONFLINK_NUMBER}',
            'from_account' => '',
            'to_account' => '${CONFLINK_PROVIDER}',
            'dialstatus' => '${CONFLINK_DIALSTATUS}',
            'disposition' => '${CONFLINK_H_DISPOSITION}',
            'duration' => '${CONFLINK_H_DURATION}',
            'billsec' => '${CONFLINK_H_BILLSEC}',
            'dst_call_id' => '${CONFLINK_H_DST_CALL_ID}',
            'verbose_call_id' => '${CONFLINK_H_VERBOSE_ID}',
            'transfer' => '0',
            'work_completed' => '1',
        ];
        $fields = [];
        foreach ($row as $key => $value) {
            $fields[] = "\"{$key}\":\"{$value}\"";
        }

        return '{"action":"insert_cdr","rows":[{' . implode(',', $fields) . '}]}';
    }

    /** The filter of one variable, as a dialplan priority. */
    private static function filter(string $var): string
    {
        $allowed = self::FILTERS[$var];

        return "    same => n,Set({$var}=\${FILTER({$allowed},\${{$var}})})";
    }

    /**
     * The `failed`, `history` and `historyrow` extensions (no context header: they belong to the
     * join context printed just before them; Gosub and the handler stay in that context).
     */
    public static function extensions(): string
    {
        $event  = self::FAILED_EVENT;
        $wait   = self::CAUSE_WAIT_S;
        $poll   = self::CAUSE_POLL_S;
        $format = self::TIME_FORMAT;
        $answered = self::ANSWERED;
        $handler = self::HANDLER;
        $row    = self::ROW;
        $lines  = [
            "; ModuleConferenceLink call history (Core's insert_cdr); in routes mode Core's Lua records the call.",
            '; A failed attempt, on the Originate\'s stand-in channel (REASON); the worker names the cause.',
            'exten => failed,1,' . substr(self::filter('CONFLINK_DIAL_VIA'), strlen('    same => n,')),
            '    same => n,GotoIf($["${CONFLINK_DIAL_VIA}" = "routes"]?done)',
            self::filter('CONFLINK_CALL_ID'),
            '    same => n,GotoIf($["${CONFLINK_CALL_ID}" = ""]?done)',
            '    same => n,Set(CONFLINK_CAUSE=)',
            "    same => n,UserEvent({$event},CallId: \${CONFLINK_CALL_ID})",
            // TryExec: a PBX without app_waitforcond records the row from REASON alone.
            "    same => n,TryExec(WaitForCondition(~,~[\"~{CONFLINK_CAUSE}\" != \"\"],{$wait},{$poll}))",
            '    same => n,Set(CONFLINK_CAUSE=0${FILTER(0-9,${CONFLINK_CAUSE:0:3})})',
            '    same => n,Set(REASON=${FILTER(0-9,${REASON})})',
            ...self::mappingLines(),
            '    same => n,Set(CONFLINK_ANSWER=)',
            '    same => n,Set(CONFLINK_H_DST_CHAN=)',
            '    same => n,Set(CONFLINK_H_DST_CALL_ID=)',
            '    same => n,Set(CONFLINK_H_VERBOSE_ID=)',
            "    same => n,Set(CONFLINK_END=\${STRFTIME(,,%s.%3q)})",
            "    same => n,Gosub({$row},1)",
            '    same => n(done),Hangup()',
            '; An answered attempt, at hang-up (pushed by the join path).',
            "exten => {$handler},1,Set(CONFLINK_END=\${STRFTIME(,,%s.%3q)})",
            "    same => n,Set(CONFLINK_DIALSTATUS={$answered})",
            '    same => n,Set(CONFLINK_H_DST_CHAN=${CHANNEL})',
            '    same => n,Set(CONFLINK_H_DST_CALL_ID=${CHANNEL(pjsip,call-id)})',
            '    same => n,Set(CONFLINK_H_VERBOSE_ID=${CHANNEL(callid)})',
            "    same => n,Gosub({$row},1)",
            '    same => n,Return()',
            '; One complete row: every value filtered, then Core\'s times, durations and disposition.',
            "exten => {$row},1,NoOp(ConferenceLink call history of one attempt)",
        ];
        foreach (array_keys(self::FILTERS) as $var) {
            $lines[] = self::filter($var);
        }
        $lines = [
            ...$lines,
            '    same => n,ExecIf($["${CONFLINK_ATTEMPT_START}" = ""]?Set(CONFLINK_ATTEMPT_START=${CONFLINK_END}))',
            "    same => n,Set(CONFLINK_H_START=\${STRFTIME(\${CONFLINK_ATTEMPT_START},,{$format})})",
            "    same => n,Set(CONFLINK_H_END=\${STRFTIME(\${CONFLINK_END},,{$format})})",
            '    same => n,Set(CONFLINK_H_DURATION=$[${STRFTIME(${CONFLINK_END},,%s)} - ${STRFTIME(${CONFLINK_ATTEMPT_START},,%s)}])',
            '    same => n,ExecIf($[${CONFLINK_H_DURATION} < 0]?Set(CONFLINK_H_DURATION=0))',
            '    same => n,Set(CONFLINK_H_ANSWER=)',
            '    same => n,Set(CONFLINK_H_BILLSEC=0)',
            '    same => n,Set(CONFLINK_H_DISPOSITION=${CONFLINK_DIALSTATUS})',
            "    same => n,GotoIf(\$[\"\${CONFLINK_DIALSTATUS}\" != \"{$answered}\" | \"\${CONFLINK_ANSWER}\" = \"\"]?send)",
            "    same => n,Set(CONFLINK_H_ANSWER=\${STRFTIME(\${CONFLINK_ANSWER},,{$format})})",
            '    same => n,Set(CONFLINK_H_BILLSEC=$[${STRFTIME(${CONFLINK_END},,%s)} - ${STRFTIME(${CONFLINK_ANSWER},,%s)}])',
            '    same => n,ExecIf($[${CONFLINK_H_BILLSEC} < 0]?Set(CONFLINK_H_BILLSEC=0))',
            // WorkerCdr::setDisposition: ANSWERED only with billsec > 0, else NOANSWER.
            "    same => n,Set(CONFLINK_H_DISPOSITION=\${IF(\$[\${CONFLINK_H_BILLSEC} > 0]?{$answered}:NOANSWER)})",
            '    same => n(send),Set(CONFLINK_H_JSON=' . self::rowJson() . ')',
            '    same => n,Set(CONFLINK_H_JSON=${BASE64_ENCODE(${CONFLINK_H_JSON})})',
            // TryExec: a PBX without CEL's app must not lose the hang-up of the call.
            '    same => n,TryExec(CELGenUserEvent(${CONFLINK_H_JSON}))',
            '    same => n,UserEvent(CdrConnector,AgiData:${CONFLINK_H_JSON})',
            '    same => n,Return()',
            '',
        ];
        return implode("\n", $lines) . "\n";
    }
}
