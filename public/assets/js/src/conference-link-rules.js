/*
 * ModuleConferenceLink — validation rules for one conference link, shared by the
 * admin pages (browser) and the tests (node). No DOM, no jQuery: pure functions.
 *
 * The server-side validator (Lib) is the authority; every rule here mirrors it so the
 * admin sees the same verdict before the round trip. tests/js/fixtures/validation-cases.json
 * holds the sample inputs both sides are checked against.
 *
 * Written in plain ES2017 so the same file ships to browsers without a transpiler.
 */

/* eslint-disable no-control-regex */
(function exportRules(root, factory) {
    if (typeof module === 'object' && module.exports) {
        // eslint-disable-next-line global-require
        module.exports = factory(require('./conference-link-presets.js'));
    } else {
        // eslint-disable-next-line no-param-reassign
        root.ConferenceLinkRules = factory(root.ConferenceLinkPresets);
    }
}(typeof self !== 'undefined' ? self : this, (Presets) => {
    const ERROR_PREFIX = 'module_conflink_error_';

    // Every editable column of m_ConferenceLinks, in form order.
    const FIELDS = [
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
        // 0.2.0: dial-in preset and far-end handling.
        'preset',
        'meeting_id',
        'participant_id',
        'passcode',
        'prompt_silence',
        'prompt_timeout',
        'dtmf_mode',
        'dead_air',
        'end_cooldown',
        // room controls
        'room_keys',
        'max_call_minutes',
        'daily_minutes',
        'schedule',
        'schedule_end',
        'announce',
        'dial_via',
    ];

    const CHECKBOX_FIELDS = ['redial_on_drop', 'enabled', 'announce'];

    const DEFAULTS = {
        conference_uniqid: '',
        provider_uniqid: '',
        dst_number: '',
        dtmf: '',
        dtmf_delay: '1',
        callerid: '',
        ring_timeout: '60',
        arm_delay: '0',
        linger: '0',
        max_attempts: '5',
        backoff: '5,15,30,60,120',
        redial_on_drop: '1',
        enabled: '1',
        description: '',
        preset: 'custom',
        meeting_id: '',
        participant_id: '',
        passcode: '',
        prompt_silence: '1',
        prompt_timeout: '20',
        dtmf_mode: 'auto',
        dead_air: '0',
        end_cooldown: '120',
        // off: the worker's default, so a row from 0.1.0 keeps today's behaviour
        room_keys: '',
        max_call_minutes: '0',
        daily_minutes: '0',
        schedule: '',
        schedule_end: 'linger',
        announce: '0',
        dial_via: 'provider',
    };

    // Where a new link in the form starts apart from DEFAULTS (LinkInput::NEW_LINK).
    const NEW_LINK = { room_keys: '*6' };

    // Columns added in 0.2.0: NULL there means the default (LinkValidator::NEW_IN_0_2).
    const NEW_IN_0_2 = FIELDS.slice(FIELDS.indexOf('preset'));

    const DTMF_MODES = ['auto', 'rfc4733', 'inband', 'info'];
    // dial_via (conflink.config DIAL_VIA): with 'routes' no provider is needed (stored as '').
    const DIAL_VIA = ['provider', 'routes'];

    // dead_air: 0 = off, else min..max seconds.
    const DEAD_AIR = { min: 5, max: 3600 };
    // max_call_minutes, daily_minutes: 0 = no limit, else min..max minutes.
    const COST_LIMITS = { min: 1, max: 1440 };
    // schedule: at most this many windows; schedule_end choices.
    const SCHEDULE = { maxWindows: 14, ends: ['linger', 'keep'] };

    /** Schedule text → canonical windows (LinkValidator::canonicalSchedule), or an error suffix. */
    function canonicalSchedule(text) {
        const windows = [];
        const lines = String(text).split(/\r\n|\r|\n/);
        for (let i = 0; i < lines.length; i += 1) {
            const line = lines[i].replace(/[ \t]+/g, ' ').trim().toLowerCase();
            if (line !== '') {
                if (!PATTERNS.schedule_window.test(line) || line.slice(-11, -6) === line.slice(-5)) {
                    return 'schedule_format';
                }
                windows.push(line);
            }
        }
        return windows.length > SCHEDULE.maxWindows ? 'schedule_too_many' : windows;
    }

    // Anchors are explicit: JS `$` never matches before a trailing newline, and the PHP
    // side uses the D modifier for the same reason.
    const PATTERNS = {
        id: /^[1-9][0-9]{0,17}$/,
        room_number: /^[0-9]{1,20}$/,
        endpoint: /^[A-Za-z0-9_.~+-]{1,80}$/,
        dst_number: /^[0-9+*#]{1,32}$/,
        dtmf: /^[0-9*#A-Dabcdw Wp]{0,64}$/,
        callerid: /^[0-9+]{0,32}$/,
        // Keys from the room ('' = off) and the digits of "Send DTMF" (conflink.config PATTERNS).
        room_keys: /^[0-9*#ABCD]{0,8}$/,
        send_digits: /^[0-9*#ABCD]{1,32}$/,
        schedule_window: /^(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?(?:,(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?)* (?:[01][0-9]|2[0-3]):[0-5][0-9]-(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/,
        decimal: /^[0-9]{1,5}(\.[0-9]{1,3})?$/,
        integer: /^[0-9]{1,5}$/,
    };

    // field: [min, max, integer?, error suffix]
    const RANGES = {
        dtmf_delay: [0, 60, false, 'dtmf_delay_range'],
        arm_delay: [0, 3600, false, 'arm_delay_range'],
        linger: [0, 3600, false, 'linger_range'],
        ring_timeout: [5, 300, true, 'ring_timeout_range'],
        max_attempts: [0, 100, true, 'max_attempts_range'],
        prompt_silence: [0.2, 5, false, 'prompt_silence_range'],
        prompt_timeout: [1, 120, false, 'prompt_timeout_range'],
        dead_air: [0, DEAD_AIR.max, true, 'dead_air_range'],
        end_cooldown: [0, 3600, true, 'end_cooldown_range'],
        max_call_minutes: [0, COST_LIMITS.max, true, 'max_call_minutes_range'],
        daily_minutes: [0, COST_LIMITS.max, true, 'daily_minutes_range'],
    };

    const BACKOFF = {
        maxItems: 20, min: 1, max: 3600,
    };

    const DESCRIPTION_MAX = 255;

    // Raw text longer than this (UTF-8 bytes) is refused before any other check.
    const MAX_INPUT_BYTES = 1024;

    // Test call duration (seconds) offered on the modify page.
    // One source: conflink.config.LIMITS['test_call_seconds'] (tests/js/limits-agreement.test.js).
    const TEST_CALL = { min: 1, max: 3600, default: 30 };

    function err(suffix) {
        return ERROR_PREFIX + suffix;
    }

    function utf8Length(value) {
        let bytes = 0;
        for (let i = 0; i < value.length; i += 1) {
            const code = value.charCodeAt(i);
            if (code < 0x80) {
                bytes += 1;
            } else if (code < 0x800) {
                bytes += 2;
            } else if (code >= 0xD800 && code <= 0xDBFF && i + 1 < value.length) {
                // A surrogate pair is one 4-byte code point.
                bytes += 4;
                i += 1;
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }

    /** Shortest decimal text with at most 3 decimals, like the PHP side's formatFloat(). */
    function formatFloat(number) {
        const text = number.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
        return text === '' || text === '-0' ? '0' : text;
    }

    /**
     * The text of a field as the server sees it: numbers are accepted (REST callers),
     * anything else that is not a string is refused.
     */
    function asText(value) {
        if (typeof value === 'string') {
            return value;
        }
        if (typeof value === 'number' && Number.isFinite(value)) {
            return Number.isInteger(value) ? String(value) : formatFloat(value);
        }
        return null;
    }

    function inRange(text, min, max, integer) {
        if (!(integer ? PATTERNS.integer : PATTERNS.decimal).test(text)) {
            return false;
        }
        const number = Number(text);
        return number >= min && number <= max;
    }

    /**
     * Back-off list: items separated by commas, spaces around items allowed ("5, 15").
     * Returns null when valid, else the error key.
     */
    function backoffError(text) {
        const items = text.split(',');
        if (items.length > BACKOFF.maxItems) {
            return err('backoff_format');
        }
        for (let i = 0; i < items.length; i += 1) {
            const item = items[i].replace(/^ +| +$/g, '');
            if (!PATTERNS.decimal.test(item)) {
                return err('backoff_format');
            }
            const number = Number(item);
            if (number < BACKOFF.min || number > BACKOFF.max) {
                return err('backoff_range');
            }
        }
        return null;
    }

    /** '1' or '0', or null for anything that is not clearly a yes/no value. */
    function normalizeCheckbox(value) {
        if (value === true || value === 1) {
            return '1';
        }
        if (value === false || value === 0) {
            return '0';
        }
        if (typeof value !== 'string') {
            return null;
        }
        const lower = value.toLowerCase();
        if (['1', 'on', 'true', 'yes'].indexOf(lower) !== -1) {
            return '1';
        }
        if (['0', 'off', 'false', 'no', ''].indexOf(lower) !== -1) {
            return '0';
        }
        return null;
    }

    /**
     * Same characters as PHP's trim() (not String#trim, which also strips NBSP etc.).
     */
    function phpTrim(value) {
        return value.replace(/^[ \t\n\r\0\x0B]+|[ \t\n\r\0\x0B]+$/g, '');
    }

    /**
     * DTMF as typed by the admin → the form stored and sent to the worker:
     * spaces dropped, a-d upper-cased, w/W (pauses) and p (prompt) kept. Null if invalid.
     */
    function normalizeDtmf(value) {
        return Presets.normalizeDtmf(value);
    }

    // The room's number by its uniqid; `true` when `rooms` is a bare list of uniqids (the
    // form's options: existence only), null when the room is not there.
    function roomNumber(rooms, uniqid) {
        if (Array.isArray(rooms)) {
            return rooms.map(String).indexOf(uniqid) === -1 ? null : true;
        }
        if (rooms && Object.prototype.hasOwnProperty.call(rooms, uniqid)) {
            return String(rooms[uniqid]);
        }
        return null;
    }

    function providerEndpoint(providers, uniqid) {
        if (Array.isArray(providers)) {
            return providers.indexOf(uniqid) === -1 ? null : uniqid;
        }
        if (providers && Object.prototype.hasOwnProperty.call(providers, uniqid)) {
            return String(providers[uniqid]);
        }
        return null;
    }

    /**
     * Validates one field's raw value. Returns null when valid, else the error key —
     * the same key the server-side validator (Lib/LinkValidator.php) returns.
     * `context.rooms` (array of uniqids, or {uniqid: extension}) and `context.providers` (array of uniqids, or
     * {uniqid: endpoint}) enforce existence when given, as the server always does.
     * `context.preset` (default custom) decides which of dtmf / meeting_id / participant_id /
     * passcode count: the server ignores the ones the preset does not use.
     */
    function validateField(field, value, context) {
        const ctx = context || {};
        if (CHECKBOX_FIELDS.indexOf(field) !== -1) {
            return normalizeCheckbox(value) === null ? err('checkbox') : null;
        }
        if (field === 'id') {
            // Hidden field; absent or empty for a new link.
            if (value === undefined || value === null || value === '') {
                return null;
            }
            const id = asText(value);
            return id !== null && PATTERNS.id.test(id) ? null : err('id');
        }
        if (FIELDS.indexOf(field) === -1) {
            return err('unknown_field');
        }
        if ((value === null || value === undefined) && NEW_IN_0_2.indexOf(field) !== -1) {
            // A row from before these columns (LinkValidator::NEW_IN_0_2): the default.
            return validateField(field, DEFAULTS[field], ctx);
        }
        const preset = ctx.preset === undefined || ctx.preset === null ? DEFAULTS.preset : ctx.preset;
        const presetField = Presets.FIELDS.indexOf(field) !== -1;
        if ((field === 'dtmf' && preset !== Presets.CUSTOM) || (presetField && Presets.fieldsOf(preset).indexOf(field) === -1)) {
            return null;
        }
        const text = asText(value);
        if (text === null) {
            return err('not_text');
        }
        if (utf8Length(text) > MAX_INPUT_BYTES) {
            return err('too_long');
        }
        switch (field) {
            case 'conference_uniqid': {
                if (text === '') {
                    return err('room_required');
                }
                if (ctx.rooms === undefined) {
                    return null;
                }
                const number = roomNumber(ctx.rooms, text);
                if (number === null) {
                    return err('room_unknown');
                }
                return number === true || PATTERNS.room_number.test(number) ? null : err('room_format');
            }
            case 'provider_uniqid': {
                if (ctx.dial_via === 'routes') {
                    return null;
                }
                if (text === '') {
                    return err('provider_required');
                }
                if (ctx.providers === undefined) {
                    return null;
                }
                const endpoint = providerEndpoint(ctx.providers, text);
                if (endpoint === null) {
                    return err('provider_unknown');
                }
                return PATTERNS.endpoint.test(endpoint) ? null : err('provider_endpoint');
            }
            case 'dst_number':
                if (text === '') {
                    return err('number_required');
                }
                return PATTERNS.dst_number.test(text) ? null : err('number_format');
            case 'dtmf':
                return PATTERNS.dtmf.test(text) ? null : err('dtmf_format');
            case 'preset':
                return Presets.NAMES.indexOf(text) === -1 ? err('preset') : null;
            case 'meeting_id':
            case 'participant_id':
            case 'passcode':
                return Presets.build(preset, { [field]: text }).errors[field] || null;
            case 'dtmf_mode':
                return DTMF_MODES.indexOf(text) === -1 ? err('dtmf_mode') : null;
            case 'max_call_minutes':
            case 'daily_minutes': {
                const suffix = RANGES[field][3];
                if (!inRange(text, 0, COST_LIMITS.max, true)) {
                    return err(suffix);
                }
                const n = Number(text);
                return n !== 0 && n < COST_LIMITS.min ? err(suffix) : null;
            }
            case 'schedule': {
                const windows = canonicalSchedule(text);
                return typeof windows === 'string' ? err(windows) : null;
            }
            case 'schedule_end':
                return SCHEDULE.ends.indexOf(text) === -1 ? err('schedule_end') : null;
            case 'dial_via':
                return DIAL_VIA.indexOf(text) === -1 ? err('dial_via') : null;
            case 'room_keys':
                // As the validator: spaces dropped, a-d upper-cased, then at most 8 keys.
                return PATTERNS.room_keys.test(text.replace(/ /g, '').toUpperCase()) ? null : err('room_keys_format');
            case 'dead_air': {
                if (!inRange(text, 0, DEAD_AIR.max, true)) {
                    return err('dead_air_range');
                }
                const n = Number(text);
                return n !== 0 && n < DEAD_AIR.min ? err('dead_air_range') : null;
            }
            case 'callerid':
                return PATTERNS.callerid.test(text) ? null : err('callerid_format');
            case 'dtmf_delay':
            case 'arm_delay':
            case 'linger':
            case 'ring_timeout':
            case 'max_attempts':
            case 'prompt_silence':
            case 'prompt_timeout':
            case 'end_cooldown': {
                const [min, max, integer, suffix] = RANGES[field];
                return inRange(text, min, max, integer) ? null : err(suffix);
            }
            case 'backoff':
                return backoffError(text);
            case 'description':
                if (/[\u0000-\u001F\u007F-\u009F]/.test(text) || /[\uD800-\uDFFF]/.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) {
                    return err('description_chars');
                }
                return Array.from(text).length > DESCRIPTION_MAX ? err('description_too_long') : null;
            default:
                return err('unknown_field');
        }
    }

    /**
     * Form values (as Semantic UI's "get values" returns them) → what the server
     * validates: text trimmed like PHP trim(), checkboxes as '1'/'0' (an unchecked box
     * counts as '0', as in an HTML form post), missing optional fields defaulted.
     */
    function prepare(values) {
        const input = values || {};
        const result = {};
        FIELDS.forEach((field) => {
            const value = input[field];
            if (CHECKBOX_FIELDS.indexOf(field) !== -1) {
                result[field] = normalizeCheckbox(value === undefined || value === null ? false : value) === '1' ? '1' : '0';
                return;
            }
            if (value === undefined || value === null) {
                result[field] = DEFAULTS[field];
                return;
            }
            result[field] = typeof value === 'string' ? phpTrim(value) : value;
        });
        return result;
    }

    /**
     * Validates a whole link. Returns {field: errorKey} for every invalid field ({} if valid).
     */
    function validateLink(values, context) {
        const prepared = prepare(values);
        const errors = {};
        const ctx = Object.assign({}, context || {}, { preset: prepared.preset, dial_via: prepared.dial_via });
        FIELDS.forEach((field) => {
            const error = validateField(field, prepared[field], ctx);
            if (error !== null) {
                errors[field] = error;
            }
        });
        return errors;
    }

    /** "Send DTMF" digits as the worker takes them (upper-case A-D, no spaces), or null. */
    function normalizeSendDigits(value) {
        const text = asText(value);
        if (text === null) {
            return null;
        }
        const digits = text.replace(/\s+/g, '').toUpperCase();
        return PATTERNS.send_digits.test(digits) ? digits : null;
    }

    function validateTestCallSeconds(value) {
        const text = asText(value);
        return text !== null && inRange(text, TEST_CALL.min, TEST_CALL.max, true);
    }

    // Every error key a form field can produce (suffixes after ERROR_PREFIX).
    const FIELD_ERRORS = {
        conference_uniqid: ['room_required', 'room_format', 'room_unknown'],
        provider_uniqid: ['provider_required', 'provider_unknown', 'provider_endpoint'],
        dst_number: ['number_required', 'number_format'],
        dtmf: ['dtmf_format'],
        dtmf_delay: ['dtmf_delay_range'],
        callerid: ['callerid_format'],
        ring_timeout: ['ring_timeout_range'],
        arm_delay: ['arm_delay_range'],
        linger: ['linger_range'],
        max_attempts: ['max_attempts_range'],
        backoff: ['backoff_format', 'backoff_range'],
        redial_on_drop: ['checkbox'],
        enabled: ['checkbox'],
        description: ['description_chars', 'description_too_long'],
        preset: ['preset'],
        prompt_silence: ['prompt_silence_range'],
        prompt_timeout: ['prompt_timeout_range'],
        dtmf_mode: ['dtmf_mode'],
        dead_air: ['dead_air_range'],
        end_cooldown: ['end_cooldown_range'],
        room_keys: ['room_keys_format'],
        max_call_minutes: ['max_call_minutes_range'],
        daily_minutes: ['daily_minutes_range'],
        schedule: ['schedule_format', 'schedule_too_many'],
        schedule_end: ['schedule_end'],
        announce: ['checkbox'],
        dial_via: ['dial_via'],
    };
    // The named fields' keys depend on the preset (conference-link-presets.js errorKeys).
    Presets.FIELDS.forEach((field) => {
        FIELD_ERRORS[field] = [];
        Presets.NAMES.forEach((preset) => {
            Presets.errorKeys(preset, field).forEach((key) => FIELD_ERRORS[field].push(key.slice(ERROR_PREFIX.length)));
        });
    });
    const COMMON_ERRORS = ['not_text', 'too_long'];

    /**
     * Registers the Semantic UI custom rule 'conflink[<field>:<suffix>]' on `rules`
     * ($.fn.form.settings.rules): it fails only when the field fails with that very error,
     * so each failure shows its own static prompt (no function prompts needed).
     */
    function installSemanticRules(rules, getContext) {
        // eslint-disable-next-line no-param-reassign
        rules.conflink = (value, param) => {
            const [field, suffix] = String(param).split(':');
            const context = typeof getContext === 'function' ? getContext() : {};
            const text = phpTrim(String(value === undefined || value === null ? '' : value));
            return validateField(field, text, context) !== err(suffix);
        };
        return rules;
    }

    /**
     * Form.validateRules for the modify page; `translate(key)` gives the text of an error key.
     */
    function semanticValidateRules(translate) {
        const t = typeof translate === 'function' ? translate : (key) => key;
        const result = {};
        FIELDS.forEach((field) => {
            if (CHECKBOX_FIELDS.indexOf(field) !== -1) {
                return;
            }
            result[field] = {
                identifier: field,
                rules: COMMON_ERRORS.concat(FIELD_ERRORS[field]).map((suffix) => ({
                    type: `conflink[${field}:${suffix}]`,
                    prompt: t(err(suffix)),
                })),
            };
        });
        return result;
    }

    return {
        ERROR_PREFIX,
        FIELDS,
        CHECKBOX_FIELDS,
        DEFAULTS,
        NEW_LINK,
        PATTERNS,
        RANGES,
        BACKOFF,
        DESCRIPTION_MAX,
        MAX_INPUT_BYTES,
        DTMF_MODES,
        DIAL_VIA,
        DEAD_AIR,
        COST_LIMITS,
        SCHEDULE,
        canonicalSchedule,
        TEST_CALL,
        FIELD_ERRORS,
        COMMON_ERRORS,
        normalizeDtmf,
        normalizeCheckbox,
        formatFloat,
        utf8Length,
        phpTrim,
        validateField,
        validateLink,
        prepare,
        validateTestCallSeconds,
        normalizeSendDigits,
        installSemanticRules,
        semanticValidateRules,
    };
}));
