// The JS rules must give the same verdict as the PHP validator on the shared samples in
// fixtures/validation-cases.json (tests/php/ui/ValidationAgreementTest.php runs the same
// file through Lib/LinkValidator). A case that disagrees fails on whichever side is wrong.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fixture = require('./fixtures/validation-cases.json');
const Rules = require('../../public/assets/js/src/conference-link-rules.js');

function sampleValue(testCase) {
    return testCase.repeat ? testCase.value.repeat(testCase.repeat) : testCase.value;
}

function describeCase(testCase) {
    const value = sampleValue(testCase);
    const shown = typeof value === 'string' && value.length > 40
        ? `${JSON.stringify(value.slice(0, 20))}… (${value.length} chars)`
        : JSON.stringify(value);
    return `${testCase.field} = ${shown} → ${testCase.error === null ? 'valid' : testCase.error}`;
}

test('fixture covers every form field and the id', () => {
    const covered = new Set(fixture.cases.map((c) => c.field));
    Rules.FIELDS.concat(['id']).forEach((field) => assert.ok(covered.has(field), field));
});

test('the base row of the fixture is valid', () => {
    assert.deepEqual(Rules.validateLink(fixture.base, fixture.context), {});
});

fixture.cases.forEach((testCase) => {
    test(`validateField: ${describeCase(testCase)}`, () => {
        const context = Object.assign({}, fixture.context, testCase.with || {});
        assert.equal(Rules.validateField(testCase.field, sampleValue(testCase), context), testCase.error);
    });
});
