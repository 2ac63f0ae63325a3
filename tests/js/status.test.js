// Display model of the live status (public/assets/js/src/conference-link-status.js).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Status = require('../../public/assets/js/src/conference-link-status.js');

const t = (key) => ({
    module_conflink_state_connected: 'Connected',
    module_conflink_StatusAttemptOf: '%n% of %max%',
    module_conflink_Seconds: 's',
}[key] || key);

test('seconds format', () => {
    assert.equal(Status.formatSeconds(4.44, 's'), '4.4 s');
    assert.equal(Status.formatSeconds(75, 's'), '1:15');
    assert.equal(Status.formatSeconds(3700, 's'), '1:01:40');
    assert.equal(Status.formatSeconds(null), Status.DASH);
    assert.equal(Status.formatSeconds(-1), Status.DASH);
});

test('a connected link', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const v = Status.view({
        state: 'connected', internal_participants: 3, external_channel: 'PJSIP/x-0001',
        since: now / 1000 - 90, attempts: 2, max_attempts: 5, next_attempt_in: null, last_error: '',
        log: [{ time: now / 1000 - 100, result: 'busy', cause: 'busy here', duration: 2.5 },
            { time: now / 1000 - 90, result: 'connected', cause: '', duration: null }],
    }, t, now);
    assert.equal(v.state, 'Connected');
    assert.equal(v.internal_participants, '3');
    assert.equal(v.external_channel, 'PJSIP/x-0001');
    assert.match(v.since, /^\d\d:\d\d:\d\d \(1:30\)$/);
    assert.equal(v.attempts, '2 of 5');
    assert.equal(v.next_attempt_in, Status.DASH);
    assert.equal(v.last_error, Status.DASH);
    assert.equal(v.log.length, 2);
    assert.equal(v.log[0].result, 'connected', 'newest first');
    assert.equal(v.log[1].duration, '2.5 s');
});

test('attempt log keeps the last 20', () => {
    const log = Array.from({ length: 30 }, (_, i) => ({ time: 1.7e9 + i, result: `r${i}`, cause: '', duration: 1 }));
    const v = Status.view({ state: 'backoff', log }, t, 1.7e12);
    assert.equal(v.log.length, 20);
    assert.equal(v.log[0].result, 'r29');
    assert.equal(v.log[19].result, 'r10');
});

test('no status, odd values, monotonic times', () => {
    assert.equal(Status.view(null, t, 0).stateKey, 'unknown');
    const v = Status.view({ state: '<b>x</b>', since: 12345.6, internal_participants: 'many' }, t, 0);
    assert.equal(v.stateKey, 'unknown');
    assert.equal(v.since, Status.DASH);
    assert.equal(v.internal_participants, Status.DASH);
    assert.equal(Status.stateColor('failed'), 'red');
    assert.equal(Status.stateColor('nonsense'), '');
});

test('times of day follow the given locale, not the runtime default', () => {
    const date = new Date(2026, 0, 2, 14, 46, 2);
    assert.equal(Status.formatClock(date, 'ru-RU'), '14:46:02');
    assert.match(Status.formatClock(date, 'en-US'), /^02:46:02\s?PM$/);
    assert.equal(Status.formatClock(date), '14:46:02', 'no locale: fixed 24-hour clock');
    assert.equal(Status.formatClock(date, 'not a tag!'), '14:46:02', 'bad tag: fixed format');
    const v = Status.view({ state: 'connected', since: date.getTime() / 1000, log: [{ time: date.getTime() / 1000, result: 'ok' }] },
        t, date.getTime() + 5000, 'ru-RU');
    assert.equal(v.since, '14:46:02 (5 s)');
    assert.equal(v.log[0].time, '14:46:02');
});

test('far-end state: translated, with the DTMF step while sending', () => {
    const tr = (key) => ({
        module_conflink_far_end_sending_dtmf_step: 'Sending DTMF, step %k% of %n%',
        module_conflink_far_end_sending_dtmf: 'Sending DTMF',
        module_conflink_far_end_waiting: 'Held by the far end',
        module_conflink_far_end_in_meeting: 'In the meeting',
        module_conflink_far_end_silent: 'Silent',
        module_conflink_far_end_ringing: 'Ringing',
    }[key] || key);
    const now = Date.now();
    assert.equal(Status.view({ state: 'dialing', far_end: 'sending_dtmf', dtmf_step: 2, dtmf_steps: 3 }, tr, now).farEnd, 'Sending DTMF, step 2 of 3');
    assert.equal(Status.view({ state: 'dialing', far_end: 'sending_dtmf' }, tr, now).farEnd, 'Sending DTMF');
    assert.equal(Status.view({ state: 'dialing', far_end: 'sending_dtmf', dtmf_step: 1, dtmf_steps: 0 }, tr, now).farEnd, 'Sending DTMF');
    assert.equal(Status.view({ state: 'connected', far_end: 'waiting' }, tr, now).farEnd, 'Held by the far end');
    assert.equal(Status.view({ state: 'connected', far_end: 'in_meeting' }, tr, now).farEnd, 'In the meeting');
    assert.equal(Status.view({ state: 'connected', far_end: 'silent' }, tr, now).farEnd, 'Silent');
    assert.equal(Status.view({ state: 'dialing', far_end: 'ringing' }, tr, now).farEnd, 'Ringing');
    assert.equal(Status.view({ state: 'idle', far_end: '' }, tr, now).farEnd, Status.DASH);
    assert.equal(Status.view({ state: 'idle', far_end: 'hacked' }, tr, now).farEndKey, '');
    assert.equal(Status.view(null, tr, now).farEnd, Status.DASH);
});

test('the meeting_ended stop reason replaces the raw last error', () => {
    const tr = (key) => (key === 'module_conflink_stop_meeting_ended' ? 'The meeting ended' : key);
    const v = Status.view({ state: 'failed', stop: 'meeting_ended', last_error: 'meeting ended twice' }, tr, Date.now());
    assert.equal(v.stop, 'meeting_ended');
    assert.equal(v.last_error, 'The meeting ended');
    const other = Status.view({ state: 'failed', stop: 'gave_up', last_error: 'busy' }, tr, Date.now());
    assert.equal(other.last_error, 'busy', 'other stops keep the worker\'s text');
});

test('the DTMF steps of an attempt, grouped by step', () => {
    const tr = (key) => ({
        module_conflink_dtmf_event_prompt_heard: 'prompt heard',
        module_conflink_dtmf_event_silence: 'prompt over',
        module_conflink_dtmf_event_timeout: 'timed out',
        module_conflink_dtmf_event_sent: 'sent',
        module_conflink_Seconds: 's',
    }[key] || key);
    const steps = [
        { step: 1, steps: 2, event: 'waiting', at: 0 },
        { step: 1, steps: 2, event: 'prompt_heard', at: 0.5 },
        { step: 1, steps: 2, event: 'silence', at: 3.3 },
        { step: 1, steps: 2, event: 'sent', at: 3.3 },
        { step: 2, steps: 2, event: 'timeout', at: 23.3 },
        { step: 2, steps: 2, event: 'sent', at: null },
        { step: 2, steps: 2, event: 'bogus', at: 1 },
    ];
    assert.equal(Status.dtmfSummary(steps, tr, 's'),
        '1/2: prompt heard 0.5 s, prompt over 3.3 s, sent 3.3 s · 2/2: timed out 23.3 s, sent');
    assert.equal(Status.dtmfSummary(undefined, tr, 's'), '');
    const v = Status.view({ state: 'connected', log: [{ time: 1767000000, result: 'connected', dtmf: steps.slice(0, 2) }] }, tr, Date.now());
    assert.equal(v.log[0].dtmf, '1/2: prompt heard 0.5 s');
});

test('the pages take their locale from the admin language', () => {
    assert.equal(typeof Status.adminLocale, 'function');
    global.globalWebAdminLanguage = 'ru';
    try {
        assert.equal(Status.adminLocale(), 'ru');
        global.SemanticLocalization = { getUserLocale: () => 'ru-RU' };
        assert.equal(Status.adminLocale(), 'ru-RU', "Core's mapping first");
    } finally {
        delete global.globalWebAdminLanguage;
        delete global.SemanticLocalization;
    }
});

test('room controls: live only with the external party in the room; the toggle follows muted', () => {
    const tr = (key) => ({ module_conflink_Mute: 'Mute', module_conflink_Unmute: 'Unmute',
        module_conflink_MutedYes: 'Yes', module_conflink_MutedNo: 'No' }[key] || key);
    let c = Status.roomControls({ state: 'connected', external_joined: true, muted: false, external_muted: false }, tr);
    assert.deepEqual(c, { live: true, muteAction: 'mute', muteLabel: 'Mute', muted: 'No' });
    c = Status.roomControls({ state: 'connected', external_joined: true, muted: true, external_muted: true }, tr);
    assert.deepEqual(c, { live: true, muteAction: 'unmute', muteLabel: 'Unmute', muted: 'Yes' });
    assert.equal(Status.roomControls({ state: 'lingering', external_joined: true }, tr).live, true);
    // Found muted in ConfBridge (not by this worker): the toggle offers Unmute.
    assert.equal(Status.roomControls({ state: 'connected', external_joined: true, external_muted: true }, tr).muteAction, 'unmute');
    for (const link of [null, {}, { state: 'dialing', external_joined: false }, { state: 'hanging_up', external_joined: true },
        { state: 'connected', external_joined: 'yes' }]) {
        const off = Status.roomControls(link, tr);
        assert.equal(off.live, false, JSON.stringify(link));
        assert.equal(off.muted, Status.DASH);
    }
    assert.equal(Status.controlUrl('7', 'dtmf'), '/pbxcore/api/v3/module-conference-link/links/7:dtmf');
    assert.equal(Status.controlUrl('7', 'unmute'), '/pbxcore/api/v3/module-conference-link/links/7:unmute');
    assert.throws(() => Status.controlUrl('7', 'kick'));
});

test('REST paths of the module resource', () => {
    assert.equal(Status.statusUrl(), '/pbxcore/api/v3/module-conference-link/links:getStatus');
    assert.equal(Status.controlUrl('7', 'dial'), '/pbxcore/api/v3/module-conference-link/links/7:dial');
    assert.equal(Status.controlUrl(12, 'hangup'), '/pbxcore/api/v3/module-conference-link/links/12:hangup');
    assert.equal(Status.controlUrl('a/b', 'dial'), '/pbxcore/api/v3/module-conference-link/links/a%2Fb:dial');
    assert.throws(() => Status.controlUrl('7', 'testCall'), /unknown control action/);
});

test('status out of a REST body, a 503 body or nothing', () => {
    const data = { ok: true, error: '', start_problem: '', ami_connected: true, links: { 7: { state: 'idle' } } };
    assert.deepEqual(Status.unwrapStatus({ result: true, data }), data);
    const down = { ok: false, error: 'no conflink-worker listening', start_problem: '', ami_connected: null, links: {} };
    assert.deepEqual(Status.unwrapStatus({ result: false, data: down, messages: { error: ['x'] } }), down);
    assert.equal(Status.unwrapStatus(undefined), null);
    assert.equal(Status.unwrapStatus({ result: false, data: [] }), null);
    assert.equal(Status.unwrapStatus('<html>'), null);
});

test('the warning says why the worker cannot start, in its own words', () => {
    const tr = (key) => ({
        module_conflink_WorkerCannotStart: 'The worker cannot start:',
        module_conflink_WorkerUnavailable: 'The worker does not answer.',
        module_conflink_AmiDisconnected: 'AMI down.',
        module_conflink_ModulesMissing: 'Asterisk lacks %modules%.',
    }[key] || key);
    const words = 'conflink self-check: FAILED: … - zmq (pyzmq): ImportError: libstdc++.so.6: cannot open shared object file';
    assert.equal(Status.workerWarning({ ok: false, error: `conflink-worker cannot start: ${words}`, start_problem: words }, tr),
        `The worker cannot start: ${words}`);
    assert.equal(Status.workerWarning({ ok: false, error: 'no conflink-worker listening', start_problem: '' }, tr),
        'The worker does not answer.');
    assert.equal(Status.workerWarning(null, tr), 'The worker does not answer.');
    assert.equal(Status.workerWarning({ ok: true, ami_connected: false }, tr), 'AMI down.');
    assert.equal(Status.workerWarning({ ok: true, ami_connected: true }, tr), '');
    assert.equal(Status.workerWarning({ ok: true, ami_connected: true, missing_modules: ['func_talkdetect.so'] }, tr),
        'Asterisk lacks func_talkdetect.so.');
    // Only module names reach the text (it is set as text, but nothing else belongs there).
    assert.equal(Status.workerWarning({ ok: true, ami_connected: true, missing_modules: ['<b>x</b>', 3] }, tr), '');
});

test('dial / hang-up results from REST bodies', () => {
    assert.deepEqual(Status.controlResult({ result: true, data: { ok: true } }, 'Dialling.'), { ok: true, text: 'Dialling.' });
    assert.deepEqual(Status.controlResult({ result: false, messages: { error: ['room is empty'] } }, 'Dialling.'),
        { ok: false, text: 'room is empty' });
    assert.deepEqual(Status.controlResult(undefined, 'Dialling.', (k) => `T:${k}`),
        { ok: false, text: 'T:module_conflink_WorkerUnavailable' });
});

test('call time today against the daily budget; cost-limit stops read as text', () => {
    const tr = (key) => ({ module_conflink_UsedOf: '%used% of %limit% min', module_conflink_Minutes: 'min',
        module_conflink_stop_daily_budget: 'Today\'s minutes are used up' }[key] || key);
    assert.equal(Status.usedToday({ used_today: 725, daily_minutes: 60 }, tr), '12 of 60 min');
    assert.equal(Status.usedToday({ used_today: 59, daily_minutes: 0 }, tr), '0 min');
    assert.equal(Status.usedToday({}, tr), Status.DASH);
    assert.equal(Status.usedToday({ used_today: -1 }, tr), Status.DASH);
    const v = Status.view({ state: 'failed', stop: 'daily_budget', last_error: 'daily_budget: …' }, tr, Date.now());
    assert.equal(v.last_error, 'Today\'s minutes are used up');
});
