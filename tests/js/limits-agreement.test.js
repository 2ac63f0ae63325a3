// The worker's python-worker/conflink/config.py is the one source of every link limit and
// pattern (limits_document()); the page rules' copies must say the same. Python: the
// checkout's .venv, else $CONFLINK_PYTHON, else python3 (missing = failure, not a skip).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Rules = require('../../public/assets/js/src/conference-link-rules.js');

const top = path.resolve(__dirname, '..', '..');
const venv = path.join(top, '.venv', 'bin', 'python');
const python = process.env.CONFLINK_PYTHON || (fs.existsSync(venv) ? venv : 'python3');
const worker = JSON.parse(execFileSync(python, ['-c',
    'import json, sys; sys.path.insert(0, sys.argv[1]); '
    + 'from conflink.config import limits_document; print(json.dumps(limits_document()))',
    path.join(top, 'python-worker')], { encoding: 'utf8' }));

// page field => worker key
const KEYS = {
    dtmf_delay: 'dtmf_delay',
    ring_timeout: 'ring_timeout',
    arm_delay: 'arm_delay',
    linger: 'linger',
    max_attempts: 'retry.max_attempts',
    prompt_silence: 'prompt_silence',
    prompt_timeout: 'prompt_timeout',
    dead_air: 'dead_air',
    end_cooldown: 'end_cooldown',
    max_call_minutes: 'max_call_minutes',
    daily_minutes: 'daily_minutes',
};

test('every range of the page is the worker\'s', () => {
    assert.deepEqual(Object.keys(Rules.RANGES).sort(), Object.keys(KEYS).sort());
    Object.entries(KEYS).forEach(([field, key]) => {
        const w = worker.limits[key];
        assert.ok(w, `worker has no limit for ${key}`);
        const [min, max, integer] = Rules.RANGES[field];
        if (w.off !== null) {
            // the page keeps "off" as the range's low end plus a separate minimum
            const low = field === 'dead_air' ? Rules.DEAD_AIR.min : Rules.COST_LIMITS.min;
            assert.deepEqual([min, low, max, integer], [w.off, w.low, w.high, w.integer], field);
        } else {
            assert.deepEqual([min, max, integer], [w.low, w.high, w.integer], field);
        }
    });
});

test('backoff and test call limits are the worker\'s', () => {
    const b = worker.limits['retry.backoff'];
    assert.deepEqual([Rules.BACKOFF.min, Rules.BACKOFF.max, Rules.BACKOFF.maxItems],
        [b.low, b.high, worker.backoff_items[1]]);
    const t = worker.limits.test_call_seconds;
    assert.deepEqual([Rules.TEST_CALL.min, Rules.TEST_CALL.max, Rules.TEST_CALL.default], [t.low, t.high, t.default]);
});

test('choices of the page are the worker\'s', () => {
    assert.deepEqual(Rules.DIAL_VIA, worker.choices.dial_via);
    assert.equal(Rules.DEFAULTS.dial_via, worker.choices.dial_via[0]);
    assert.deepEqual(Rules.DTMF_MODES, worker.choices.dtmf_mode);
    assert.deepEqual(Rules.SCHEDULE.ends, worker.choices.schedule_end);
});

test('patterns of the page are the worker\'s', () => {
    const p = worker.patterns;
    assert.equal(Rules.PATTERNS.room_number.source, p.room);
    assert.equal(Rules.PATTERNS.endpoint.source, p.endpoint);
    assert.equal(Rules.PATTERNS.dst_number.source, p.number);
    assert.equal(Rules.PATTERNS.callerid.source, p.callerid);
    assert.equal(Rules.PATTERNS.room_keys.source, p.room_keys);
    assert.equal(Rules.PATTERNS.send_digits.source, p.send_digits);
    assert.equal(Rules.PATTERNS.schedule_window.source, p.schedule_window);
    // the page accepts more (lower-case a-d, spaces) and normalises: what it stores must be the
    // worker's set, and every character of the worker's set must be storable
    const stored = new Set();
    for (let code = 32; code < 127; code += 1) {
        const c = String.fromCharCode(code);
        if (Rules.PATTERNS.dtmf.test(c)) {
            [...(Rules.normalizeDtmf(c) || '')].forEach((x) => stored.add(x));
        }
    }
    assert.deepEqual([...stored].sort(), [...worker.dtmf_chars].sort());
});
