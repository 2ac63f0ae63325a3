<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

/**
 * Reduces the worker's `status` reply to the shape the admin pages render.
 *
 * The worker's reply is outside input to the web UI: every value is type-checked and
 * bounded here so the pages never have to guess (and never render markup from it).
 * Field names follow the control protocol in design.md; a few aliases are accepted
 * because the worker may add detail under slightly different names.
 */
final class LinkStatus
{
    public const LOG_LIMIT = 20;

    /** Far-end states the worker reports (design.md); anything else shows as none. */
    public const FAR_END = ['', 'ringing', 'sending_dtmf', 'waiting', 'in_meeting', 'silent'];

    /** Asterisk modules the worker checks at every AMI start (python-worker config.FAR_END_MODULES). */
    public const FAR_END_MODULES = ['func_talkdetect.so', 'app_waitforcond.so'];

    /** Events of a DTMF step in the attempt log (python-worker fsm.py _dtmf_log). */
    public const DTMF_EVENTS = ['waiting', 'prompt_heard', 'silence', 'timeout', 'sent'];

    /** The worker keeps at most 40 step reports per attempt; so do we. */
    private const DTMF_LOG_LIMIT = 40;

    /** Text fields are cut to this length: status is a summary, not a log file. */
    private const TEXT_MAX = 300;
    /** The worker-level error may carry a start problem in the self-check's own words. */
    private const ERROR_MAX = 1000;

    /**
     * @param mixed $reply decoded worker reply ({"ok": true, "ami": {…}, "links": […]}) or anything else
     * @return array{ok: bool, error: string, start_problem: string, ami_connected: bool|null, missing_modules: list<string>, links: array<string, array<string, mixed>>}
     */
    public static function fromWorkerReply(mixed $reply): array
    {
        $result = ['ok' => false, 'error' => '', 'start_problem' => '', 'ami_connected' => null, 'missing_modules' => [],
            'links' => []];
        if (!is_array($reply)) {
            $result['error'] = 'worker_unreachable';
            return $result;
        }
        if (($reply['ok'] ?? false) !== true) {
            $result['error'] = self::text($reply['error'] ?? 'worker_error', self::ERROR_MAX);
            // Set by WorkerClient when the supervisor recorded why the worker cannot start.
            $result['start_problem'] = self::text($reply['start_problem'] ?? '', self::ERROR_MAX);
            return $result;
        }
        $result['ok'] = true;
        if (is_array($reply['ami'] ?? null) && is_bool($reply['ami']['connected'] ?? null)) {
            $result['ami_connected'] = $reply['ami']['connected'];
        }
        $modules = $reply['ami']['modules'] ?? null;
        foreach (self::FAR_END_MODULES as $module) {
            if (is_array($modules) && ($modules[$module] ?? null) === 'missing') {
                $result['missing_modules'][] = $module;
            }
        }
        foreach (is_array($reply['links'] ?? null) ? $reply['links'] : [] as $link) {
            if (!is_array($link)) {
                continue;
            }
            $id = $link['id'] ?? null;
            if (!is_string($id) && !is_int($id)) {
                continue;
            }
            $id = (string)$id;
            if (preg_match('/^[A-Za-z0-9_]{1,32}$/D', $id) !== 1) {
                continue;
            }
            $result['links'][$id] = self::link($link);
        }
        return $result;
    }

    /**
     * @param array<string, mixed> $link
     * @return array<string, mixed>
     */
    public static function link(array $link): array
    {
        $retry = is_array($link['retry'] ?? null) ? $link['retry'] : [];
        return [
            'state' => self::token($link['state'] ?? '') ?: 'unknown',
            'room' => self::text($link['room'] ?? ''),
            'internal_participants' => self::count($link['internal_participants'] ?? null),
            'external_channel' => self::text($link['external_channel'] ?? ''),
            'since' => self::time(self::first($link, ['state_since', 'since', 'external_since', 'connected_since'])),
            'attempts' => self::count($link['attempts'] ?? null) ?? 0,
            'max_attempts' => self::count(self::first($link, ['max_attempts']) ?? ($retry['max_attempts'] ?? null)),
            'next_attempt_in' => self::seconds($link['next_attempt_in'] ?? null),
            'last_error' => self::text($link['last_error'] ?? ''),
            // design.md "Far-end prompts and state": one of FAR_END, k of n while sending.
            'far_end' => in_array($link['far_end'] ?? '', self::FAR_END, true) ? (string)($link['far_end'] ?? '') : '',
            'dtmf_step' => self::step($link['dtmf_step'] ?? null),
            'dtmf_steps' => self::step($link['dtmf_steps'] ?? null),
            // Machine-readable stop reason ("" while not stopped), e.g. meeting_ended.
            'stop' => self::token($link['stop'] ?? ''),
            // Room controls: the external party is in the room (DTMF/mute possible), muted.
            'external_joined' => ($link['external_joined'] ?? false) === true,
            'muted' => ($link['muted'] ?? false) === true,
            'external_muted' => ($link['external_muted'] ?? false) === true,
            // Cost limits: connected seconds today (PBX time zone) and the daily budget (0 = none).
            'used_today' => self::count($link['used_today'] ?? null),
            'daily_minutes' => self::count($link['daily_minutes'] ?? null) ?? 0,
            // Schedule: inside one of the link's windows now (true without a schedule).
            'in_schedule' => ($link['in_schedule'] ?? true) !== false,
            'log' => self::log(self::first($link, ['attempt_log', 'history', 'log']) ?? []),
        ];
    }

    /**
     * Merges the status into list rows by link id; rows without status get state 'unknown'
     * (worker down) or 'absent' (worker up but the link is not in its config yet).
     *
     * @param array<int, array<string, mixed>> $rows each with key 'id'
     * @param array{ok: bool, links: array<string, array<string, mixed>>} $status from fromWorkerReply()
     * @return array<int, array<string, mixed>>
     */
    public static function mergeIntoRows(array $rows, array $status): array
    {
        foreach ($rows as $i => $row) {
            $id = (string)($row['id'] ?? '');
            $live = $status['links'][$id] ?? null;
            if ($live === null) {
                $rows[$i]['state'] = $status['ok'] ? 'absent' : 'unknown';
                $rows[$i]['live_error'] = '';
                $rows[$i]['far_end'] = '';
                $rows[$i]['internal_participants'] = null;
                continue;
            }
            $rows[$i]['state'] = $live['state'];
            $rows[$i]['live_error'] = $live['last_error'];
            $rows[$i]['far_end'] = $live['far_end'];
            $rows[$i]['internal_participants'] = $live['internal_participants'];
        }
        return $rows;
    }

    /**
     * @return array<int, array{time: float|string|null, result: string, cause: string, duration: float|null}>
     */
    private static function log(mixed $entries): array
    {
        if (!is_array($entries)) {
            return [];
        }
        $log = [];
        foreach (array_values($entries) as $entry) {
            if (!is_array($entry)) {
                continue;
            }
            $log[] = [
                'time' => self::time(self::first($entry, ['time', 'at', 'started_at', 'start'])),
                'result' => self::token(self::first($entry, ['result', 'outcome', 'status']) ?? ''),
                'cause' => self::text(self::first($entry, ['cause', 'reason', 'error']) ?? ''),
                'duration' => self::seconds(self::first($entry, ['duration', 'seconds'])),
                'dtmf' => self::dtmfSteps($entry['dtmf'] ?? null),
            ];
        }
        // Newest last in the worker's order; keep the most recent entries.
        return array_slice($log, -self::LOG_LIMIT);
    }

    /**
     * The DTMF step report of one attempt (the worker's attempt_log[].dtmf): step k of n, what
     * happened (DTMF_EVENTS) and when, in seconds after the first report of that attempt.
     *
     * @return list<array{step: int|null, steps: int|null, event: string, at: float|null}>
     */
    private static function dtmfSteps(mixed $entries): array
    {
        if (!is_array($entries)) {
            return [];
        }
        $out = [];
        $start = null;
        foreach (array_slice(array_values($entries), 0, self::DTMF_LOG_LIMIT) as $entry) {
            if (!is_array($entry) || !in_array($entry['event'] ?? null, self::DTMF_EVENTS, true)) {
                continue;
            }
            $time = $entry['time'] ?? null;
            $time = (is_int($time) || is_float($time)) && is_finite((float)$time) ? (float)$time : null;
            $start ??= $time;
            $out[] = [
                'step' => self::step($entry['step'] ?? null),
                'steps' => self::step($entry['steps'] ?? null),
                'event' => (string)$entry['event'],
                'at' => $time !== null && $start !== null && $time >= $start ? round($time - $start, 1) : null,
            ];
        }
        return $out;
    }

    /**
     * @param array<string, mixed> $data
     * @param list<string> $keys
     */
    private static function first(array $data, array $keys): mixed
    {
        foreach ($keys as $key) {
            if (array_key_exists($key, $data) && $data[$key] !== null) {
                return $data[$key];
            }
        }
        return null;
    }

    private static function text(mixed $value, int $max = self::TEXT_MAX): string
    {
        if (!is_string($value) && !is_int($value) && !is_float($value)) {
            return '';
        }
        $text = (string)$value;
        if (!mb_check_encoding($text, 'UTF-8')) {
            $text = mb_convert_encoding($text, 'UTF-8', 'UTF-8');
        }
        $text = (string)preg_replace('/[\x00-\x1F\x7F]+/u', ' ', $text);
        return mb_substr(trim($text), 0, $max);
    }

    /** Machine words such as state names: [a-z0-9_] only, lower case. */
    private static function token(mixed $value): string
    {
        if (!is_string($value)) {
            return '';
        }
        $token = strtolower($value);
        return preg_match('/^[a-z0-9_]{1,40}$/D', $token) === 1 ? $token : '';
    }

    private static function count(mixed $value): ?int
    {
        if (is_int($value) && $value >= 0) {
            return $value;
        }
        if (is_array($value)) {
            // Some replies list the participants instead of counting them.
            return count($value);
        }
        return null;
    }

    /** A DTMF step number: a whole number 0–1000, else null. */
    private static function step(mixed $value): ?int
    {
        return is_int($value) && $value >= 0 && $value <= 1000 ? $value : null;
    }

    private static function seconds(mixed $value): ?float
    {
        if ((is_int($value) || is_float($value)) && is_finite((float)$value) && $value >= 0) {
            return round((float)$value, 1);
        }
        return null;
    }

    /** Epoch seconds stay numbers; ISO-8601 strings pass through checked. */
    private static function time(mixed $value): float|string|null
    {
        if ((is_int($value) || is_float($value)) && is_finite((float)$value) && $value > 0) {
            return (float)$value;
        }
        if (is_string($value) && preg_match('/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/D', $value) === 1) {
            return $value;
        }
        return null;
    }
}
