// Unit tests of the shared validation rules (public/assets/js/src/conference-link-rules.js).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const Rules = require('../../public/assets/js/src/conference-link-rules.js');

const E = (suffix) => `module_conflink_error_${suffix}`;
// The form passes its room options (uniqids); the agreement fixture passes {uniqid: number}.
const context = { rooms: ['CONFERENCE-1'], providers: { 'SIP-1': 'SIP-1' } };
const valid = {
    conference_uniqid: 'CONFERENCE-1',
    provider_uniqid: 'SIP-1',
    dst_number: '84957776675',
};

test('a minimal link with defaults is valid', () => {
    assert.deepEqual(Rules.validateLink(valid, context), {});
});

test('defaults match the column defaults', () => {
    assert.deepEqual(Rules.prepare({}), Object.assign({}, Rules.DEFAULTS, { redial_on_drop: '0', enabled: '0' }));
});

test('keys from the room: off as a column default (0.1.0 rows), *6 on a new link', () => {
    assert.equal(Rules.DEFAULTS.room_keys, '');
    assert.equal(Rules.prepare({}).room_keys, '');
    assert.deepEqual(Rules.NEW_LINK, { room_keys: '*6' });
    assert.equal(Rules.validateField('room_keys', Rules.NEW_LINK.room_keys, context), null);
});

test('prepare trims like PHP trim(), keeps NBSP, turns unchecked boxes into 0', () => {
    const p = Rules.prepare({ dst_number: ' \t123\n', description: '\u00a0x\u00a0', enabled: false, redial_on_drop: 'on' });
    assert.equal(p.dst_number, '123');
    assert.equal(p.description, '\u00a0x\u00a0');
    assert.equal(p.enabled, '0');
    assert.equal(p.redial_on_drop, '1');
});

test('every field: one valid and one invalid value', () => {
    const samples = {
        conference_uniqid: ['CONFERENCE-1', '354233', E('room_unknown')],
        provider_uniqid: ['SIP-1', 'SIP-2', E('provider_unknown')],
        dst_number: ['+7495', '7495;', E('number_format')],
        dtmf: ['1 2 a w#', '1,2', E('dtmf_format')],
        dtmf_delay: ['0.5', '61', E('dtmf_delay_range')],
        callerid: ['+7495', '7495#', E('callerid_format')],
        ring_timeout: ['60', '4', E('ring_timeout_range')],
        arm_delay: ['3600', '3600.001', E('arm_delay_range')],
        linger: ['0', '-1', E('linger_range')],
        max_attempts: ['0', '101', E('max_attempts_range')],
        backoff: ['5, 15', '5,,15', E('backoff_format')],
        redial_on_drop: ['0', 'maybe', E('checkbox')],
        enabled: ['1', '2', E('checkbox')],
        description: ['ok', 'a\nb', E('description_chars')],
        preset: ['zoom', 'skype', E('preset')],
        meeting_id: ['1', '1a', E('pbx_meeting_id_format')],
        participant_id: ['', 'x', E('webex_participant_id_format')],
        passcode: ['1234', '123', E('teams_passcode_format')],
        prompt_silence: ['0.2', '0.1', E('prompt_silence_range')],
        prompt_timeout: ['120', '121', E('prompt_timeout_range')],
        dtmf_mode: ['info', 'sip', E('dtmf_mode')],
        dead_air: ['0', '3', E('dead_air_range')],
        end_cooldown: ['3600', '3601', E('end_cooldown_range')],
        room_keys: ['* 6a', '*6w', E('room_keys_format')],
        max_call_minutes: ['0', '1441', E('max_call_minutes_range')],
        daily_minutes: ['1440', '1.5', E('daily_minutes_range')],
        schedule: ['Mon-Fri  08:00-18:00\n\nsat 10:00-12:00', 'mon-fri 8-18', E('schedule_format')],
        schedule_end: ['keep', 'hangup', E('schedule_end')],
        dial_via: ['routes', 'route', E('dial_via')],
        announce: ['1', 'maybe', E('checkbox')],
    };
    const presetOf = { meeting_id: 'pbx', participant_id: 'webex', passcode: 'teams' };
    Rules.FIELDS.forEach((field) => {
        const [good, bad, error] = samples[field];
        const ctx = Object.assign({ preset: presetOf[field] }, context);
        assert.equal(Rules.validateField(field, good, ctx), null, `${field} ${good}`);
        assert.equal(Rules.validateField(field, bad, ctx), error, `${field} ${bad}`);
    });
});

test('rooms by uniqid: a renumbered room keeps its id; its number must be digits', () => {
    const rooms = { 'CONFERENCE-1': '2200', 'CONFERENCE-2': '22a' };
    assert.equal(Rules.validateField('conference_uniqid', 'CONFERENCE-1', { rooms }), null);
    assert.equal(Rules.validateField('conference_uniqid', '2200', { rooms }), E('room_unknown'));
    assert.equal(Rules.validateField('conference_uniqid', 'CONFERENCE-2', { rooms }), E('room_format'));
    assert.equal(Rules.validateField('conference_uniqid', 'CONFERENCE-2', { rooms: ['CONFERENCE-2'] }), null, 'options: existence only');
    assert.equal(Rules.validateField('conference_uniqid', '', { rooms }), E('room_required'));
});

test('DTMF normaliser: spaces out, a-d upper, w/W kept, invalid → null', () => {
    assert.equal(Rules.normalizeDtmf('35 42 33 #'), '354233#');
    assert.equal(Rules.normalizeDtmf('abcd ABCD'), 'ABCDABCD');
    assert.equal(Rules.normalizeDtmf('1w2W3'), '1w2W3');
    assert.equal(Rules.normalizeDtmf(''), '');
    assert.equal(Rules.normalizeDtmf('   '), '');
    assert.equal(Rules.normalizeDtmf('1\n'), null);
    assert.equal(Rules.normalizeDtmf('e'), null);
    assert.equal(Rules.normalizeDtmf('1'.repeat(65)), null);
    assert.equal(Rules.normalizeDtmf(42), null);
});

test('injection strings are refused in every dialplan-bound field', () => {
    const attacks = ['1\n2', '1\r2', '1,2', '1;2', '1)2', '${EXTEN}', '1|2', '1\u00002', '\u0661', '1'.repeat(10240)];
    ['conference_uniqid', 'dst_number', 'dtmf', 'callerid', 'dtmf_delay', 'ring_timeout', 'backoff'].forEach((field) => {
        attacks.forEach((value) => {
            if (field === 'backoff' && value === '1,2') {
                return; // the comma is the list separator there
            }
            assert.notEqual(Rules.validateField(field, value, context), null, `${field} ${JSON.stringify(value.slice(0, 12))}`);
        });
    });
    assert.equal(Rules.validateField('description', 'x'.repeat(10240)), E('too_long'));
    assert.equal(Rules.validateField('description', '${x};|),'), null, 'free text may hold punctuation');
});

test('the Semantic UI rule fails only for its own error', () => {
    const rules = {};
    Rules.installSemanticRules(rules, () => context);
    assert.equal(rules.conflink('7495;', 'dst_number:number_format'), false);
    assert.equal(rules.conflink('7495;', 'dst_number:number_required'), true);
    assert.equal(rules.conflink('', 'dst_number:number_required'), false);
    assert.equal(rules.conflink(' 7495 ', 'dst_number:number_format'), true, 'trimmed like the server');
    assert.equal(rules.conflink('999', 'conference_uniqid:room_unknown'), false);
});

test('semanticValidateRules lists every text field with translated prompts', () => {
    const v = Rules.semanticValidateRules((k) => `T:${k}`);
    assert.deepEqual(Object.keys(v).sort(), Rules.FIELDS.filter((f) => !Rules.CHECKBOX_FIELDS.includes(f)).sort());
    v.backoff.rules.forEach((r) => assert.match(r.prompt, /^T:module_conflink_error_/));
    assert.ok(v.backoff.rules.some((r) => r.type === 'conflink[backoff:backoff_range]'));
});

test('test call seconds: integers 1–3600 (the worker limit)', () => {
    assert.equal(Rules.validateTestCallSeconds('30'), true);
    assert.equal(Rules.validateTestCallSeconds('1'), true);
    assert.equal(Rules.validateTestCallSeconds('3600'), true);
    ['0', '3601', '30.5', '', '-30', '3e1', '30\n'].forEach((v) => assert.equal(Rules.validateTestCallSeconds(v), false, v));
});

test('every error key the rules produce has an English and a Russian text', () => {
    const keys = new Set([E('unknown_field')]);
    Object.values(Rules.FIELD_ERRORS).flat().concat(Rules.COMMON_ERRORS, ['id']).forEach((s) => keys.add(E(s)));
    ['en', 'ru'].forEach((lang) => {
        const text = fs.readFileSync(path.join(__dirname, `../../Messages/${lang}.php`), 'utf8');
        keys.forEach((key) => assert.ok(text.includes(`'${key}' =>`), `${lang}: ${key}`));
    });
});

test('validateLink checks the named fields of the chosen preset and ignores the others', () => {
    const zoom = Object.assign({ preset: 'zoom', meeting_id: '12', passcode: 'x', dtmf: ',,,', participant_id: '' }, valid);
    assert.deepEqual(Rules.validateLink(zoom, context), {
        meeting_id: E('zoom_meeting_id_format'),
        passcode: E('zoom_passcode_format'),
    });
    const custom = Object.assign({}, zoom, { preset: 'custom' });
    assert.deepEqual(Rules.validateLink(custom, context), { dtmf: E('dtmf_format') });
    assert.deepEqual(Rules.validateLink(Object.assign({}, custom, { dtmf: 'p1#p2#' }), context), {});
    assert.deepEqual(Rules.validateLink(Object.assign({}, zoom, { preset: 'meet', meeting_id: '123456789' }), context), {});
});

test('every error a named field can get has a semantic rule with its own prompt', () => {
    const rules = Rules.semanticValidateRules((key) => `T:${key}`);
    ['meeting_id', 'participant_id', 'passcode'].forEach((field) => {
        const types = rules[field].rules.map((r) => r.type);
        assert.ok(types.includes(`conflink[${field}:zoom_${field === 'meeting_id' ? 'meeting_id_required' : `${field}_format`}]`), field);
    });
    assert.ok(rules.meeting_id.rules.some((r) => r.prompt === `T:${E('meet_meeting_id_format')}`));
});

test('Send DTMF digits: normalised like the worker takes them, refused otherwise', () => {
    const Rules = require('../../public/assets/js/src/conference-link-rules.js');
    assert.equal(Rules.normalizeSendDigits('*6'), '*6');
    assert.equal(Rules.normalizeSendDigits(' 12 #a '), '12#A');
    for (const bad of ['', '   ', '1w', 'p', '1,2', '1'.repeat(33), 'e', null]) {
        assert.equal(Rules.normalizeSendDigits(bad), null, String(bad));
    }
});
