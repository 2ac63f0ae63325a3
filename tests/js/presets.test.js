// The JS preset builder (public/assets/js/src/conference-link-presets.js) must give the
// same sequence and errors as Lib/DtmfPresets.php on the shared samples
// (fixtures/preset-cases.json; tests/php/unit/DtmfPresetsTest.php runs the PHP side), and
// its table must be the PHP table (read from the PHP source, so a limit changed on one side
// only fails here even where no sample sits on it).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const fixture = require('./fixtures/preset-cases.json');
const Presets = require('../../public/assets/js/src/conference-link-presets.js');

fixture.cases.forEach((c, i) => {
    test(`#${i} ${c.preset} ${JSON.stringify(c.fields)} → ${c.sequence === null ? JSON.stringify(c.errors) : c.sequence}`, () => {
        const result = Presets.build(c.preset, c.fields);
        assert.deepEqual(result.errors, c.errors);
        assert.equal(result.sequence, c.sequence);
    });
});

test('the preset table equals Lib/DtmfPresets::PRESETS', () => {
    const php = fs.readFileSync(path.join(__dirname, '../../Lib/DtmfPresets.php'), 'utf8');
    const digitsMax = Number(/const DIGITS_MAX = (\d+);/.exec(php)[1]);
    assert.equal(Presets.DIGITS_MAX, digitsMax);
    const body = /public const PRESETS = \[(.*?)\n {4}\];/s.exec(php)[1];
    const table = {};
    let current = null;
    body.split('\n').forEach((line) => {
        const preset = /^\s*'([a-z_]+)' => \[\s*$/.exec(line) || /^\s*self::CUSTOM => \[\]/.exec(line);
        if (preset) {
            current = preset[1] || 'custom';
            table[current] = [];
            return;
        }
        const field = /^\s*'([a-z_]+)'\s*=> \[(true|false), (\d+|self::DIGITS_MAX), (\d+|self::DIGITS_MAX)\],/.exec(line);
        if (field) {
            const n = (s) => (s === 'self::DIGITS_MAX' ? digitsMax : Number(s));
            table[current].push([field[1], field[2] === 'true', n(field[3]), n(field[4])]);
        }
    });
    assert.deepEqual(table, Presets.PRESETS);
    assert.deepEqual(Presets.NAMES, ['zoom', 'teams', 'webex', 'meet', 'mts_link', 'pbx', 'custom']);
});

test('errorKeys lists exactly what build can return for a field', () => {
    Presets.NAMES.forEach((preset) => {
        Presets.fieldsOf(preset).forEach((field) => {
            const keys = Presets.errorKeys(preset, field);
            assert.ok(keys.includes(Presets.build(preset, { [field]: 'x' }).errors[field]), `${preset} ${field}`);
        });
    });
    assert.deepEqual(Presets.errorKeys('custom', 'dtmf'), ['module_conflink_error_dtmf_format']);
    assert.deepEqual(Presets.errorKeys('meet', 'passcode'), []);
});

test('null, undefined and numbers as field values', () => {
    assert.equal(Presets.build('pbx', { meeting_id: 200, passcode: null }).sequence, 'p200#');
    assert.deepEqual(Presets.build('pbx', { meeting_id: undefined }).errors, { meeting_id: 'module_conflink_error_pbx_meeting_id_required' });
    assert.deepEqual(Presets.build(undefined, {}).errors, { preset: 'module_conflink_error_preset' });
});

test('the preview is never empty', () => {
    const t = (key) => `T:${key}`;
    assert.deepEqual(Presets.preview('zoom', { meeting_id: '123456789' }, t), { kind: 'sequence', code: 'p123456789#p#', note: '' });
    assert.deepEqual(Presets.preview('custom', { dtmf: '' }, t), { kind: 'empty', code: '', note: 'T:module_conflink_dtmf_preview_empty' });
    assert.deepEqual(Presets.preview('custom', { dtmf: ' ' }, t).kind, 'empty');
    assert.deepEqual(Presets.preview('zoom', { meeting_id: '1' }, t), { kind: 'invalid', code: '', note: 'T:module_conflink_dtmf_preview_invalid' });
    assert.deepEqual(Presets.preview('teams', {}, t).kind, 'invalid');
});
