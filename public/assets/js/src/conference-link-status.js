/*
 * ModuleConferenceLink — turns one link's normalised status (the REST status, see
 * App/Lib/LinkStatus.php) into display strings. Pure functions, no DOM: the page scripts
 * put the strings in with jQuery .text(), never as HTML.
 *
 * Plain ES2017, loadable by browsers and by node (tests/js).
 */
(function exportStatus(root, factory) {
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        // eslint-disable-next-line no-param-reassign
        root.ConferenceLinkStatus = factory();
    }
}(typeof self !== 'undefined' ? self : this, () => {
    const DASH = '—';
    const LOG_LIMIT = 20;

    // Far-end states (design.md "Far-end prompts and state") → translation key.
    const FAR_END = {
        ringing: 'module_conflink_far_end_ringing',
        sending_dtmf: 'module_conflink_far_end_sending_dtmf',
        waiting: 'module_conflink_far_end_waiting',
        in_meeting: 'module_conflink_far_end_in_meeting',
        silent: 'module_conflink_far_end_silent',
    };

    // Stop reasons (status `stop`) that get their own explanation instead of last_error.
    const STOP_TEXTS = {
        meeting_ended: 'module_conflink_stop_meeting_ended',
        call_limit: 'module_conflink_stop_call_limit',
        daily_budget: 'module_conflink_stop_daily_budget',
    };

    // DTMF step events of the attempt log worth showing ("waiting" only opens a step).
    const DTMF_EVENTS = {
        prompt_heard: 'module_conflink_dtmf_event_prompt_heard',
        silence: 'module_conflink_dtmf_event_silence',
        timeout: 'module_conflink_dtmf_event_timeout',
        sent: 'module_conflink_dtmf_event_sent',
    };

    /**
     * "1/2: prompt heard 0.5 s, prompt over 3.3 s, sent 3.3 s · 2/2: …" from an attempt's
     * step reports (LinkStatus::dtmfSteps); '' when there are none.
     */
    function dtmfSummary(steps, tr, unit) {
        if (!Array.isArray(steps)) {
            return '';
        }
        const groups = [];
        steps.forEach((s) => {
            if (!s || !Object.prototype.hasOwnProperty.call(DTMF_EVENTS, s.event)) {
                return;
            }
            const head = isCount(s.step) && isCount(s.steps) ? `${s.step}/${s.steps}` : '?';
            const at = typeof s.at === 'number' && Number.isFinite(s.at) ? ` ${s.at} ${unit}` : '';
            const last = groups[groups.length - 1];
            const text = `${tr(DTMF_EVENTS[s.event])}${at}`;
            if (last && last.head === head) {
                last.items.push(text);
            } else {
                groups.push({ head, items: [text] });
            }
        });
        return groups.map((g) => `${g.head}: ${g.items.join(', ')}`).join(' · ');
    }

    function isCount(value) {
        return typeof value === 'number' && Number.isInteger(value) && value >= 0;
    }

    /**
     * "Sending DTMF, step 2 of 3", "In the meeting", … or DASH when there is no call.
     * Returns [key, text].
     */
    function farEndView(link, tr) {
        const key = link && typeof link.far_end === 'string' && Object.prototype.hasOwnProperty.call(FAR_END, link.far_end)
            ? link.far_end : '';
        if (key === '') {
            return ['', DASH];
        }
        if (key === 'sending_dtmf' && isCount(link.dtmf_step) && isCount(link.dtmf_steps) && link.dtmf_steps > 0) {
            return [key, tr('module_conflink_far_end_sending_dtmf_step')
                .replace('%k%', String(link.dtmf_step)).replace('%n%', String(link.dtmf_steps))];
        }
        return [key, tr(FAR_END[key])];
    }

    function pad(n) {
        return n < 10 ? `0${n}` : String(n);
    }

    /** 75 → "1:15", 3700 → "1:01:40", 4.5 → "4.5 s". */
    function formatSeconds(value, unit) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
            return DASH;
        }
        if (value < 60) {
            const rounded = Math.round(value * 10) / 10;
            return `${rounded} ${unit || 's'}`;
        }
        const total = Math.round(value);
        const h = Math.floor(total / 3600);
        const m = Math.floor((total % 3600) / 60);
        const s = total % 60;
        return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
    }

    /**
     * Worker times are epoch seconds (or ISO strings); small numbers are monotonic clock
     * values, which cannot be shown as a time of day.
     */
    function toDate(value) {
        if (typeof value === 'number' && Number.isFinite(value) && value > 1e9) {
            return new Date(value * 1000);
        }
        if (typeof value === 'string' && value !== '') {
            const date = new Date(value);
            return Number.isNaN(date.getTime()) ? null : date;
        }
        return null;
    }

    /**
     * Time of day in the admin language's locale ("02:46:02 PM" for en-US, "14:46:02" for
     * ru-RU); without a locale (or one the browser does not know), 24-hour "14:46:02".
     */
    function formatClock(date, locale) {
        if (locale) {
            try {
                return date.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
            } catch (e) {
                // RangeError for a malformed tag: fall through to the fixed format.
            }
        }
        return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    }

    /** "14:03:07 (2:15)" — the time of day and how long ago. */
    function formatSince(value, nowMs, unit, locale) {
        const date = toDate(value);
        if (date === null) {
            return DASH;
        }
        const ago = (nowMs - date.getTime()) / 1000;
        const clock = formatClock(date, locale);
        return ago >= 0 ? `${clock} (${formatSeconds(ago, unit)})` : clock;
    }

    /**
     * @param {object|null} link one entry of the REST status `links`, or null/undefined
     * @param {function(string): string} t translation lookup (globalTranslate key → text)
     * @param {number} nowMs Date.now()
     * @param {string} [locale] admin language's locale for times of day (see formatClock)
     */
    function view(link, t, nowMs, locale) {
        const tr = typeof t === 'function' ? t : (key) => key;
        const unit = tr('module_conflink_Seconds');
        if (!link || typeof link !== 'object') {
            return {
                stateKey: 'unknown',
                state: tr('module_conflink_state_unknown'),
                internal_participants: DASH,
                external_channel: DASH,
                since: DASH,
                attempts: DASH,
                next_attempt_in: DASH,
                last_error: DASH,
                farEndKey: '',
                farEnd: DASH,
                stop: '',
                log: [],
            };
        }
        const stateKey = /^[a-z0-9_]{1,40}$/.test(String(link.state)) ? link.state : 'unknown';
        const stateText = tr(`module_conflink_state_${stateKey}`);
        let attempts = DASH;
        if (typeof link.attempts === 'number') {
            attempts = typeof link.max_attempts === 'number'
                ? tr('module_conflink_StatusAttemptOf')
                    .replace('%n%', String(link.attempts)).replace('%max%', String(link.max_attempts))
                : String(link.attempts);
        }
        const log = (Array.isArray(link.log) ? link.log : []).slice(-LOG_LIMIT).reverse().map((entry) => {
            const date = toDate(entry && entry.time);
            return {
                time: date === null ? DASH : formatClock(date, locale),
                result: entry && entry.result ? String(entry.result) : DASH,
                cause: entry && entry.cause ? String(entry.cause) : '',
                duration: formatSeconds(entry ? entry.duration : null, unit),
                dtmf: dtmfSummary(entry ? entry.dtmf : null, tr, unit),
            };
        });
        const [farEndKey, farEnd] = farEndView(link, tr);
        const stop = typeof link.stop === 'string' && Object.prototype.hasOwnProperty.call(STOP_TEXTS, link.stop) ? link.stop : '';
        let lastError = link.last_error ? String(link.last_error) : DASH;
        if (stop !== '') {
            lastError = tr(STOP_TEXTS[stop]);
        }
        return {
            stateKey,
            // An untranslated state shows its machine name rather than a raw key.
            state: stateText === `module_conflink_state_${stateKey}` || !stateText ? stateKey : stateText,
            internal_participants: typeof link.internal_participants === 'number' ? String(link.internal_participants) : DASH,
            external_channel: link.external_channel ? String(link.external_channel) : DASH,
            since: formatSince(link.since, nowMs, unit, locale),
            attempts,
            next_attempt_in: formatSeconds(link.next_attempt_in, unit),
            last_error: lastError,
            farEndKey,
            farEnd,
            stop,
            log,
        };
    }

    /**
     * Locale of the admin language (Core's SemanticLocalization mapping, e.g. ru → ru-RU), not
     * the browser's: times on the pages follow the language the administrator chose.
     */
    function adminLocale() {
        /* global SemanticLocalization, globalWebAdminLanguage */
        if (typeof SemanticLocalization !== 'undefined' && SemanticLocalization.getUserLocale) {
            return SemanticLocalization.getUserLocale();
        }
        return typeof globalWebAdminLanguage !== 'undefined' && globalWebAdminLanguage ? globalWebAdminLanguage : '';
    }

    /**
     * What the live-call controls can do now: `live` when the external party is in the room
     * (Send DTMF, Mute/Unmute), `muteAction` is the one the toggle offers, `muted` the status
     * text (ConfBridge's own flag).
     */
    function roomControls(link, t) {
        const tr = typeof t === 'function' ? t : (key) => key;
        const l = link && typeof link === 'object' ? link : {};
        const live = l.external_joined === true && ['connected', 'lingering'].indexOf(l.state) >= 0;
        // Muted by us or found muted in ConfBridge (e.g. after a worker restart): offer Unmute.
        const wanted = l.muted === true || l.external_muted === true;
        return {
            live,
            muteAction: wanted ? 'unmute' : 'mute',
            muteLabel: tr(wanted ? 'module_conflink_Unmute' : 'module_conflink_Mute'),
            muted: live ? tr(l.external_muted === true ? 'module_conflink_MutedYes' : 'module_conflink_MutedNo') : DASH,
        };
    }

    /** "12 min" or "12 of 60 min": today's call time against the daily budget (cost limits). */
    function usedToday(link, t) {
        const tr = typeof t === 'function' ? t : (key) => key;
        const l = link && typeof link === 'object' ? link : {};
        if (typeof l.used_today !== 'number' || !Number.isFinite(l.used_today) || l.used_today < 0) {
            return DASH;
        }
        const used = Math.floor(l.used_today / 60);
        const limit = typeof l.daily_minutes === 'number' && l.daily_minutes > 0 ? l.daily_minutes : 0;
        if (limit > 0) {
            return tr('module_conflink_UsedOf').replace('%used%', String(used)).replace('%limit%', String(limit));
        }
        return `${used} ${tr('module_conflink_Minutes')}`;
    }

    /** Semantic UI colour of the state label. */
    function stateColor(stateKey) {
        const colors = {
            connected: 'green',
            test_call: 'teal',
            dialing: 'yellow',
            arming: 'yellow',
            lingering: 'olive',
            backoff: 'orange',
            hanging_up: 'orange',
            failed: 'red',
            held: 'grey',
            off_schedule: 'grey',
            disabled: 'grey',
            idle: '',
            absent: 'grey',
            unknown: 'grey',
        };
        return Object.prototype.hasOwnProperty.call(colors, stateKey) ? colors[stateKey] : '';
    }

    /**
     * The module's REST v3 resource (Lib/RestAPI/Links/Controller.php, #[ApiResource] path;
     * tests/php check that both say the same). Core's TokenManager adds the Bearer token.
     */
    const REST_URL = '/pbxcore/api/v3/module-conference-link/links';
    const CONTROL_ACTIONS = ['dial', 'hangup', 'dtmf', 'mute', 'unmute'];

    function statusUrl() {
        return `${REST_URL}:getStatus`;
    }

    function controlUrl(id, action) {
        if (CONTROL_ACTIONS.indexOf(action) < 0) {
            throw new Error(`unknown control action ${action}`);
        }
        return `${REST_URL}/${encodeURIComponent(String(id))}:${action}`;
    }

    /**
     * The normalised status (App/Lib/LinkStatus) out of a REST reply body (also when the
     * worker does not answer: result false, data.ok false), or null when the body is not one.
     */
    function unwrapStatus(body) {
        const data = body && typeof body === 'object' ? body.data : null;
        if (!data || typeof data !== 'object' || typeof data.ok !== 'boolean') {
            return null;
        }
        return data;
    }

    /**
     * The warning above the status: none when all is well; the worker's start problem in its
     * own words when the supervisor recorded one; else "the worker does not answer"; with the
     * worker up: no AMI, or Asterisk lacking a module the far-end handling needs.
     */
    function workerWarning(status, t) {
        const tr = typeof t === 'function' ? t : (key) => key;
        if (!status || !status.ok) {
            if (status && typeof status.start_problem === 'string' && status.start_problem !== '') {
                return `${tr('module_conflink_WorkerCannotStart')} ${status.start_problem}`;
            }
            return tr('module_conflink_WorkerUnavailable');
        }
        if (status.ami_connected === false) {
            return tr('module_conflink_AmiDisconnected');
        }
        const missing = Array.isArray(status.missing_modules)
            ? status.missing_modules.filter((m) => typeof m === 'string' && /^[a-z_]+\.so$/.test(m)) : [];
        return missing.length ? tr('module_conflink_ModulesMissing').replace('%modules%', missing.join(', ')) : '';
    }

    /** {ok, text} for a dial / hang-up reply body (or a failed request's body, or nothing). */
    function controlResult(body, okText, t) {
        const tr = typeof t === 'function' ? t : (key) => key;
        if (body && body.result === true) {
            return { ok: true, text: okText };
        }
        const errors = body && body.messages && Array.isArray(body.messages.error) ? body.messages.error : [];
        const first = errors.find((e) => typeof e === 'string' && e !== '');
        return { ok: false, text: first || tr('module_conflink_WorkerUnavailable') };
    }

    return {
        DASH, LOG_LIMIT, FAR_END, STOP_TEXTS, DTMF_EVENTS, farEndView, dtmfSummary, formatSeconds, formatSince, formatClock,
        adminLocale, toDate, view, stateColor, roomControls, usedToday,
        REST_URL, statusUrl, controlUrl, unwrapStatus, workerWarning, controlResult,
    };
}));
