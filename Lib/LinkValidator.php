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
 * Server-side validation and normalisation of one link row (the authority; the UI's JS mirrors it).
 *
 * Error translation keys returned per field (add their texts to Messages/en.php and ru.php):
 *
 *   module_conflink_error_not_text              value is not a string/number (array, object, null)
 *   module_conflink_error_too_long              input longer than MAX_INPUT_BYTES before any other check
 *   module_conflink_error_id                    id: not a positive integer
 *   module_conflink_error_room_required         conference_uniqid: empty
 *   module_conflink_error_room_format           conference_uniqid: the room's number is not ^[0-9]{1,20}$
 *   module_conflink_error_room_unknown          conference_uniqid: no such conference room
 *   module_conflink_error_provider_required     provider_uniqid: empty (dial_via provider)
 *   module_conflink_error_provider_unknown      provider_uniqid: no such active SIP provider
 *   module_conflink_error_provider_endpoint     provider_uniqid: its PJSIP endpoint name is unusable
 *   module_conflink_error_number_required       dst_number: empty
 *   module_conflink_error_number_format         dst_number: not ^[0-9+*#]{1,32}$
 *   module_conflink_error_dtmf_format           dtmf (preset custom): not ^[0-9*#A-Dabcdw Wp]{0,64}$
 *   module_conflink_error_preset                preset: not a DtmfPresets name
 *   module_conflink_error_<preset>_<field>_…    meeting_id / participant_id / passcode: see DtmfPresets
 *   module_conflink_error_dtmf_delay_range      dtmf_delay: not a number 0–60
 *   module_conflink_error_callerid_format       callerid: not ^[0-9+]{0,32}$
 *   module_conflink_error_ring_timeout_range    ring_timeout: not an integer 5–300
 *   module_conflink_error_arm_delay_range       arm_delay: not a number 0–3600
 *   module_conflink_error_linger_range          linger: not a number 0–3600
 *   module_conflink_error_max_attempts_range    max_attempts: not an integer 0–100
 *   module_conflink_error_backoff_format        backoff: not a comma-separated list of 1–20 numbers
 *   module_conflink_error_backoff_range         backoff: an item outside 1–3600
 *   module_conflink_error_checkbox              redial_on_drop / enabled / announce: not a yes/no value
 *   module_conflink_error_description_too_long  description: more than 255 characters
 *   module_conflink_error_description_chars     description: control characters or invalid UTF-8
 *   module_conflink_error_prompt_silence_range  prompt_silence: not a number 0.2–5
 *   module_conflink_error_prompt_timeout_range  prompt_timeout: not a number 1–120
 *   module_conflink_error_dtmf_mode             dtmf_mode: not auto, rfc4733, inband or info
 *   module_conflink_error_dead_air_range        dead_air: not an integer 0 or 5–3600
 *   module_conflink_error_end_cooldown_range    end_cooldown: not an integer 0–3600
 *   module_conflink_error_room_keys_format      room_keys: not up to 8 of 0-9 * # A-D (spaces dropped, a-d upper-cased)
 *   module_conflink_error_max_call_minutes_range max_call_minutes: not an integer 0 or 1–1440
 *   module_conflink_error_daily_minutes_range   daily_minutes: not an integer 0 or 1–1440
 *   module_conflink_error_schedule_format       schedule: a line is not "<days> <HH:MM>-<HH:MM>" (or starts and ends at once)
 *   module_conflink_error_schedule_too_many     schedule: more than 14 windows
 *   module_conflink_error_schedule_end          schedule_end: not linger or keep
 *   module_conflink_error_dial_via              dial_via: not provider or routes
 *
 * Accepted input forms (what the JS must mirror):
 * - numbers: plain decimal `^[0-9]{1,5}(\.[0-9]{1,3})?$` (no sign, exponent, comma or spaces), then the range;
 *   integers `^[0-9]{1,5}$`; PHP int/float values are accepted as well (REST callers);
 * - backoff: items as above separated by commas, spaces around items allowed ("5, 15, 30");
 * - checkboxes: '1'/'0', 'on'/'off'/'', 'true'/'false', bool, int 1/0; a missing checkbox takes the
 *   default (so the UI must send unchecked boxes explicitly, e.g. Form.convertCheckboxesToBool = true);
 * - dtmf: spaces are dropped, a–d upper-cased, w/W/p kept (see normaliseDtmf()); with a preset other
 *   than custom the submitted dtmf is ignored and the sequence is built from the named fields
 *   (DtmfPresets, the one builder), so a stored row and the rendered config always agree.
 * - dial_via routes: the call goes through the PBX's outgoing routes, so no provider is needed;
 *   provider_uniqid is stored as '' (the link then depends on no provider: deleting or
 *   disabling one never touches it).
 * Missing optional fields take the defaults below (DEFAULTS). The columns added in 0.2.0
 * (NEW_IN_0_2) also take their default when they are NULL: a 0.1.0 row migrated by core reads
 * as preset custom with its old sequence and today's timing.
 * The limits are python-worker's conflink/config.py's (LIMITS below is the copy;
 * tests/php/unit/LimitsAgreementTest compares them, WorkerParserAgreementTest feeds values on
 * and around every far-end limit to both sides and checks the worker's defaults are DEFAULTS).
 */
final class LinkValidator
{
    public const ERROR_PREFIX = 'module_conflink_error_';

    /** Raw inputs longer than this are refused before any regex runs (10 kB strings etc.). */
    public const MAX_INPUT_BYTES = 1024;

    public const MAX_DESCRIPTION_CHARS = 255;

    /** Column defaults, as stored in the DB (strings, like Phalcon hands them over). */
    public const DEFAULTS = [
        'dtmf'           => '',
        'dtmf_delay'     => '1',
        'callerid'       => '',
        'ring_timeout'   => '60',
        'arm_delay'      => '0',
        'linger'         => '0',
        'max_attempts'   => '5',
        'backoff'        => '5,15,30,60,120',
        'redial_on_drop' => '1',
        'enabled'        => '1',
        'description'    => '',
        // 0.2.0: dial-in preset and far-end handling.
        'preset'         => DtmfPresets::CUSTOM,
        'meeting_id'     => '',
        'participant_id' => '',
        'passcode'       => '',
        'prompt_silence' => '1',
        'prompt_timeout' => '20',
        'dtmf_mode'      => 'auto',
        'dead_air'       => '0',
        'end_cooldown'   => '120',
        // room controls: the keys a person in the room presses to send them to the far end;
        // off here (the worker's default: a 0.1.0 row keeps today's behaviour), a new link
        // in the form starts with *6 (App/Lib/LinkInput::NEW_LINK).
        'room_keys'      => '',
        // cost limits, minutes; 0 = none
        'max_call_minutes' => '0',
        'daily_minutes'    => '0',
        // schedule: one window per line ('' = always); schedule_end: what a window's end does to a call
        'schedule'         => '',
        'schedule_end'     => 'linger',
        // announcements into the room (off)
        'announce'         => '0',
        // how the call is dialled: the link's provider, number as entered, or the PBX's outgoing routes
        'dial_via'         => 'provider',
    ];

    /** Columns added in 0.2.0: NULL (a row from before them) reads as the default. */
    public const NEW_IN_0_2 = [
        'preset', 'meeting_id', 'participant_id', 'passcode',
        'prompt_silence', 'prompt_timeout', 'dtmf_mode', 'dead_air', 'end_cooldown',
        'room_keys', 'max_call_minutes', 'daily_minutes', 'schedule', 'schedule_end', 'announce',
        'dial_via',
    ];

    public const DTMF_MODES = ['auto', 'rfc4733', 'inband', 'info'];

    /** dial_via (conflink.config DIAL_VIA): the link's provider, or the PBX's outgoing routes. */
    public const DIAL_VIA = ['provider', 'routes'];
    public const DIAL_VIA_ROUTES = 'routes';

    /**
     * field => [low, high, integer, off]: off is a value allowed below low that means "off".
     * A copy of the worker's one source, conflink.config.LIMITS (python-worker/conflink/config.py);
     * tests/php/unit/LimitsAgreementTest.php fails when they differ. backoff: each item;
     * test_call_seconds: the length of a test call (not a column).
     */
    public const LIMITS = [
        'dtmf_delay'        => [0.0, 60.0, false, null],
        'arm_delay'         => [0.0, 3600.0, false, null],
        'linger'            => [0.0, 3600.0, false, null],
        'prompt_silence'    => [0.2, 5.0, false, null],
        'prompt_timeout'    => [1.0, 120.0, false, null],
        'ring_timeout'      => [5, 300, true, null],
        'max_attempts'      => [0, 100, true, null],
        'dead_air'          => [5, 3600, true, 0],
        'end_cooldown'      => [0, 3600, true, null],
        'backoff'           => [1.0, 3600.0, false, null],
        'test_call_seconds' => [1.0, 3600.0, false, null],
        'max_call_minutes'  => [1, 1440, true, 0],
        'daily_minutes'     => [1, 1440, true, 0],
    ];

    /** backoff: at most this many items. */
    public const BACKOFF_MAX_ITEMS = 20;

    /** A test call lasts this long unless asked otherwise (seconds). */
    public const TEST_CALL_DEFAULT = 30;

    /** dead_air: 0 = off, else this range (seconds). */
    public const DEAD_AIR_MIN = self::LIMITS['dead_air'][0];
    public const DEAD_AIR_MAX = self::LIMITS['dead_air'][1];

    /** Every column a link row has, in table order (id first). */
    public const FIELDS = [
        'id',
        'conference_uniqid',
        'provider_uniqid',
        'dst_number',
        'dtmf',
        'dtmf_delay',
        'callerid',
        'ring_timeout',
        'arm_delay',
        'linger',
        'max_attempts',
        'backoff',
        'redial_on_drop',
        'enabled',
        'description',
        'preset',
        'meeting_id',
        'participant_id',
        'passcode',
        'prompt_silence',
        'prompt_timeout',
        'dtmf_mode',
        'dead_air',
        'end_cooldown',
        'room_keys',
        'max_call_minutes',
        'daily_minutes',
        'schedule',
        'schedule_end',
        'announce',
        'dial_via',
    ];

    /** One schedule window (conflink.config PATTERNS schedule_window), at most SCHEDULE_MAX_WINDOWS. */
    public const SCHEDULE_WINDOW_RE = '/^(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?(?:,(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?)* (?:[01][0-9]|2[0-3]):[0-5][0-9]-(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/D';
    public const SCHEDULE_MAX_WINDOWS = 14;
    public const SCHEDULE_ENDS = ['linger', 'keep'];

    /** A link id in the worker's config (conflink.config PATTERNS['link_id']); the bare form is for REST routes. */
    public const LINK_ID_PATTERN = '[A-Za-z0-9_]{1,32}';
    public const LINK_ID_RE = '/^' . self::LINK_ID_PATTERN . '$/D';
    public const ROOM_RE = '/^[0-9]{1,20}$/D';
    public const NUMBER_RE = '/^[0-9+*#]{1,32}$/D';
    public const DTMF_INPUT_RE = '/^[0-9*#A-Dabcdw Wp]{0,64}$/D';
    public const DTMF_CANONICAL_RE = '/^[0-9*#ABCDwWp]{0,64}$/D';
    /** Keys from the room (room_keys, '' = off) and the digits of a dtmf command (conflink.config PATTERNS). */
    public const ROOM_KEYS_RE = '/^[0-9*#ABCD]{0,8}$/D';
    public const SEND_DIGITS_RE = '/^[0-9*#ABCD]{1,32}$/D';
    public const CALLERID_RE = '/^[0-9+]{0,32}$/D';
    public const ENDPOINT_RE = '/^[A-Za-z0-9_.~+-]{1,80}$/D';
    private const DECIMAL_RE = '/^[0-9]{1,5}(?:\.[0-9]{1,3})?$/D';
    private const INTEGER_RE = '/^[0-9]{1,5}$/D';

    /** @var array<string, string> room uniqid => extension */
    private array $rooms = [];

    /** @var array<string, string> provider uniqid => resolved PJSIP endpoint name */
    private array $providerEndpoints;

    /**
     * @param array<string, string> $rooms              existing rooms: ConferenceRooms.uniqid => extension
                                                         (a link stores the uniqid, so renumbering a
                                                         room keeps it; the worker gets the extension)
     * @param array<string, string> $providerEndpoints  active SIP providers: uniqid => endpoint name
     *                                                  (see EndpointResolver::activeProviderEndpoints())
     */
    public function __construct(array $rooms, array $providerEndpoints)
    {
        foreach ($rooms as $uniqid => $extension) {
            $this->rooms[(string)$uniqid] = (string)$extension;
        }
        $this->providerEndpoints = $providerEndpoints;
    }

    /**
     * Validates and normalises one submitted row.
     *
     * @param array<string, mixed> $input raw request data; unknown keys are ignored
     */
    /** The number (extension) of a room the validator knows, by its uniqid; null if unknown. */
    public function roomExtension(string $uniqid): ?string
    {
        return $this->rooms[$uniqid] ?? null;
    }

    public function check(array $input): ValidationResult
    {
        $errors = [];
        $values = [];

        $text = function (string $field) use ($input, &$errors): ?string {
            $raw = array_key_exists($field, $input) ? $input[$field] : (self::DEFAULTS[$field] ?? '');
            if ($raw === null && in_array($field, self::NEW_IN_0_2, true)) {
                $raw = self::DEFAULTS[$field];
            }
            if (is_int($raw) || is_float($raw)) {
                $raw = is_float($raw) ? self::formatFloat($raw) : (string)$raw;
            }
            if (!is_string($raw)) {
                $errors[$field] = self::ERROR_PREFIX . 'not_text';
                return null;
            }
            if (strlen($raw) > self::MAX_INPUT_BYTES) {
                $errors[$field] = self::ERROR_PREFIX . 'too_long';
                return null;
            }
            return $raw;
        };

        // id: absent or empty for a new row.
        if (array_key_exists('id', $input) && $input['id'] !== '' && $input['id'] !== null) {
            $id = $input['id'];
            if (is_int($id)) {
                $id = (string)$id;
            }
            if (is_string($id) && preg_match('/^[1-9][0-9]{0,17}$/D', $id) === 1) {
                $values['id'] = $id;
            } else {
                $errors['id'] = self::ERROR_PREFIX . 'id';
            }
        }

        // NULL: a 0.1.0 row whose room could not be found when it was migrated.
        $room = ($input['conference_uniqid'] ?? null) === null ? '' : $text('conference_uniqid');
        if ($room !== null) {
            if ($room === '') {
                $errors['conference_uniqid'] = self::ERROR_PREFIX . 'room_required';
            } elseif (!array_key_exists($room, $this->rooms)) {
                $errors['conference_uniqid'] = self::ERROR_PREFIX . 'room_unknown';
            } elseif (preg_match(self::ROOM_RE, $this->rooms[$room]) !== 1) {
                // The worker and ConfBridge know the room by its number.
                $errors['conference_uniqid'] = self::ERROR_PREFIX . 'room_format';
            } else {
                $values['conference_uniqid'] = $room;
            }
        }

        $via = $text('dial_via');
        if ($via !== null) {
            if (!in_array($via, self::DIAL_VIA, true)) {
                $errors['dial_via'] = self::ERROR_PREFIX . 'dial_via';
            } else {
                $values['dial_via'] = $via;
            }
        }

        $provider = $via === self::DIAL_VIA_ROUTES ? null : $text('provider_uniqid');
        if ($via === self::DIAL_VIA_ROUTES) {
            $values['provider_uniqid'] = '';
        } elseif ($provider !== null) {
            if ($provider === '') {
                $errors['provider_uniqid'] = self::ERROR_PREFIX . 'provider_required';
            } elseif (!array_key_exists($provider, $this->providerEndpoints)) {
                $errors['provider_uniqid'] = self::ERROR_PREFIX . 'provider_unknown';
            } elseif (preg_match(self::ENDPOINT_RE, $this->providerEndpoints[$provider]) !== 1) {
                $errors['provider_uniqid'] = self::ERROR_PREFIX . 'provider_endpoint';
            } else {
                $values['provider_uniqid'] = $provider;
            }
        }

        $number = $text('dst_number');
        if ($number !== null) {
            if ($number === '') {
                $errors['dst_number'] = self::ERROR_PREFIX . 'number_required';
            } elseif (preg_match(self::NUMBER_RE, $number) !== 1) {
                $errors['dst_number'] = self::ERROR_PREFIX . 'number_format';
            } else {
                $values['dst_number'] = $number;
            }
        }

        // The DTMF sequence: the custom string, or built from the preset's named fields.
        $preset = $text('preset');
        if ($preset !== null) {
            $builderInput = [];
            $fields = $preset === DtmfPresets::CUSTOM ? ['dtmf'] : DtmfPresets::FIELDS;
            foreach ($fields as $field) {
                $raw = $text($field);
                $builderInput[$field] = $raw ?? '';
            }
            $built = DtmfPresets::build($preset, $builderInput);
            // A field already refused as not text keeps that error.
            $errors += $built->errors;
            if ($built->isValid()) {
                $values['preset'] = $preset;
                $values['dtmf'] = $built->sequence;
                $values += $built->fields;
            }
        }

        $callerId = $text('callerid');
        if ($callerId !== null) {
            if (preg_match(self::CALLERID_RE, $callerId) !== 1) {
                $errors['callerid'] = self::ERROR_PREFIX . 'callerid_format';
            } else {
                $values['callerid'] = $callerId;
            }
        }

        foreach (self::LIMITS as $field => $limit) {
            if (!in_array($field, self::FIELDS, true) || $field === 'backoff') {
                continue;
            }
            $raw = $text($field);
            if ($raw === null) {
                continue;
            }
            $canonical = self::withinLimit($raw, $limit);
            if ($canonical === null) {
                $errors[$field] = self::ERROR_PREFIX . $field . '_range';
            } else {
                $values[$field] = $canonical;
            }
        }

        $keys = $text('room_keys');
        if ($keys !== null) {
            // Typed like DTMF: spaces dropped, a-d upper-cased; '' turns the keys off.
            $canonical = strtoupper(str_replace(' ', '', $keys));
            if (preg_match(self::ROOM_KEYS_RE, $canonical) !== 1) {
                $errors['room_keys'] = self::ERROR_PREFIX . 'room_keys_format';
            } else {
                $values['room_keys'] = $canonical;
            }
        }

        $schedule = $text('schedule');
        if ($schedule !== null) {
            $windows = self::canonicalSchedule($schedule);
            if (is_string($windows)) {
                $errors['schedule'] = $windows;
            } else {
                $values['schedule'] = implode("\n", $windows);
            }
        }
        $end = $text('schedule_end');
        if ($end !== null) {
            if (!in_array($end, self::SCHEDULE_ENDS, true)) {
                $errors['schedule_end'] = self::ERROR_PREFIX . 'schedule_end';
            } else {
                $values['schedule_end'] = $end;
            }
        }

        $mode = $text('dtmf_mode');
        if ($mode !== null) {
            if (!in_array($mode, self::DTMF_MODES, true)) {
                $errors['dtmf_mode'] = self::ERROR_PREFIX . 'dtmf_mode';
            } else {
                $values['dtmf_mode'] = $mode;
            }
        }

        $backoff = $text('backoff');
        if ($backoff !== null) {
            $result = self::canonicalBackoff($backoff);
            if (str_starts_with($result, self::ERROR_PREFIX)) {
                $errors['backoff'] = $result;
            } else {
                $values['backoff'] = $result;
            }
        }

        foreach (['redial_on_drop', 'enabled', 'announce'] as $field) {
            $raw  = array_key_exists($field, $input) ? $input[$field] : self::DEFAULTS[$field];
            if ($raw === null && in_array($field, self::NEW_IN_0_2, true)) {
                $raw = self::DEFAULTS[$field];
            }
            $flag = self::normaliseCheckbox($raw);
            if ($flag === null) {
                $errors[$field] = self::ERROR_PREFIX . 'checkbox';
            } else {
                $values[$field] = $flag;
            }
        }

        $description = $text('description');
        if ($description !== null) {
            // /u fails on invalid UTF-8; \p{Cc} covers C0, DEL and C1 controls (newline, CR, tab, ESC…).
            if (preg_match('/^\P{Cc}*$/Du', $description) !== 1) {
                $errors['description'] = self::ERROR_PREFIX . 'description_chars';
            } elseif (preg_match_all('/./su', $description) > self::MAX_DESCRIPTION_CHARS) {
                $errors['description'] = self::ERROR_PREFIX . 'description_too_long';
            } else {
                $values['description'] = $description;
            }
        }

        return new ValidationResult($errors === [] ? $values : [], $errors);
    }

    /**
     * Canonical DTMF: spaces removed, a–d upper-cased, w/W/p kept. Null if the input breaks the rule.
     */
    public static function normaliseDtmf(string $input): ?string
    {
        if (preg_match(self::DTMF_INPUT_RE, $input) !== 1) {
            return null;
        }

        return strtr(str_replace(' ', '', $input), 'abcd', 'ABCD');
    }

    /** '1' or '0', or null for anything that is not clearly a yes/no value. */
    public static function normaliseCheckbox(mixed $raw): ?string
    {
        if ($raw === true || $raw === 1) {
            return '1';
        }
        if ($raw === false || $raw === 0) {
            return '0';
        }
        if (!is_string($raw)) {
            return null;
        }

        return match (strtolower($raw)) {
            '1', 'on', 'true', 'yes' => '1',
            '0', 'off', 'false', 'no', '' => '0',
            default => null,
        };
    }

    /**
     * Canonical text of $raw within a LIMITS entry ("01.50" → "1.5", "007" → "7"), or null.
     *
     * @param array{0: int|float, 1: int|float, 2: bool, 3: int|float|null} $limit
     */
    /**
     * Schedule text (one window per line; blank lines, case and repeated spaces do not matter)
     * → the canonical windows, or an error key.
     *
     * @return list<string>|string
     */
    public static function canonicalSchedule(string $text): array|string
    {
        $windows = [];
        foreach (preg_split('/\r\n|\r|\n/', $text) ?: [] as $line) {
            $line = strtolower(trim((string)preg_replace('/[ \t]+/', ' ', $line)));
            if ($line === '') {
                continue;
            }
            if (preg_match(self::SCHEDULE_WINDOW_RE, $line) !== 1 || substr($line, -11, 5) === substr($line, -5)) {
                return self::ERROR_PREFIX . 'schedule_format';
            }
            $windows[] = $line;
        }
        if (count($windows) > self::SCHEDULE_MAX_WINDOWS) {
            return self::ERROR_PREFIX . 'schedule_too_many';
        }

        return $windows;
    }

    public static function withinLimit(string $raw, array $limit): ?string
    {
        [$low, $high, $integer, $off] = $limit;
        if ($integer) {
            if (preg_match(self::INTEGER_RE, $raw) !== 1) {
                return null;
            }
            $value = (int)$raw;
            return ($value >= $low && $value <= $high) || ($off !== null && $value === $off) ? (string)$value : null;
        }
        if ($off !== null && preg_match(self::DECIMAL_RE, $raw) === 1 && (float)$raw === (float)$off) {
            return self::formatFloat((float)$off);
        }
        return self::canonicalDecimal($raw, (float)$low, (float)$high);
    }

    /**
     * Canonical decimal text within [low, high] ("01.50" → "1.5"), or null.
     */
    public static function canonicalDecimal(string $raw, float $low, float $high): ?string
    {
        if (preg_match(self::DECIMAL_RE, $raw) !== 1) {
            return null;
        }
        $value = (float)$raw;
        if ($value < $low || $value > $high) {
            return null;
        }

        return self::formatFloat($value);
    }

    /**
     * Canonical backoff text ("5, 15" → "5,15") or an error key (starts with ERROR_PREFIX).
     */
    public static function canonicalBackoff(string $raw): string
    {
        $items = explode(',', $raw);
        if (count($items) > self::BACKOFF_MAX_ITEMS) {
            return self::ERROR_PREFIX . 'backoff_format';
        }
        $out = [];
        foreach ($items as $item) {
            $item = trim($item, ' ');
            if (preg_match(self::DECIMAL_RE, $item) !== 1) {
                return self::ERROR_PREFIX . 'backoff_format';
            }
            $canonical = self::canonicalDecimal($item, (float)self::LIMITS['backoff'][0], (float)self::LIMITS['backoff'][1]);
            if ($canonical === null) {
                return self::ERROR_PREFIX . 'backoff_range';
            }
            $out[] = $canonical;
        }

        return implode(',', $out);
    }

    /** Shortest decimal text of a float without exponent: 1.0 → "1", 0.25 → "0.25". */
    public static function formatFloat(float $value): string
    {
        $text = rtrim(rtrim(sprintf('%.3F', $value), '0'), '.');

        return $text === '' || $text === '-0' ? '0' : $text;
    }
}
