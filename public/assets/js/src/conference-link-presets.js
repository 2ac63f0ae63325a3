/*
 * ModuleConferenceLink — the dial-in preset builder for the admin pages (browser) and the
 * tests (node). Pure functions, no DOM.
 *
 * Mirror of Lib/DtmfPresets.php, the authority: the same presets, fields, limits, error keys
 * and sequences. tests/js/fixtures/preset-cases.json holds the samples both are checked on.
 *
 * Plain ES2017, loadable by browsers and by node.
 */
(function exportPresets(root, factory) {
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        // eslint-disable-next-line no-param-reassign
        root.ConferenceLinkPresets = factory();
    }
}(typeof self !== 'undefined' ? self : this, () => {
    const ERROR_PREFIX = 'module_conflink_error_';
    const CUSTOM = 'custom';
    const FIELDS = ['meeting_id', 'participant_id', 'passcode'];
    const DIGITS_MAX = 16;

    // preset → [[field, required, min, max], …] in sending order (DtmfPresets::PRESETS).
    const PRESETS = {
        zoom: [['meeting_id', true, 9, 11], ['participant_id', false, 1, DIGITS_MAX], ['passcode', false, 1, DIGITS_MAX]],
        teams: [['meeting_id', true, 1, DIGITS_MAX], ['passcode', false, 4, 12]],
        webex: [['meeting_id', true, 1, DIGITS_MAX], ['participant_id', false, 1, DIGITS_MAX], ['passcode', false, 1, DIGITS_MAX]],
        meet: [['meeting_id', true, 9, DIGITS_MAX]],
        mts_link: [['meeting_id', true, 1, DIGITS_MAX], ['passcode', false, 1, DIGITS_MAX]],
        pbx: [['meeting_id', true, 1, 20], ['passcode', false, 1, DIGITS_MAX]],
        custom: [],
    };
    const NAMES = Object.keys(PRESETS);

    // Same rule as LinkValidator::DTMF_INPUT_RE (custom sequences).
    const DTMF_INPUT = /^[0-9*#A-Dabcdw Wp]{0,64}$/;

    function has(object, key) {
        return Object.prototype.hasOwnProperty.call(object, key);
    }

    function normalizeDtmf(value) {
        if (typeof value !== 'string' || !DTMF_INPUT.test(value)) {
            return null;
        }
        return value.replace(/ /g, '').replace(/[abcd]/g, (c) => c.toUpperCase());
    }

    /** Spaces and one trailing # dropped; null unless digits only remain ('' stays ''). */
    function digits(raw) {
        let value = String(raw).replace(/ /g, '');
        if (value.endsWith('#')) {
            value = value.slice(0, -1);
        }
        return /^[0-9]*$/.test(value) ? value : null;
    }

    function fieldsOf(preset) {
        return has(PRESETS, preset) ? PRESETS[preset].map((spec) => spec[0]) : [];
    }

    function sequence(preset, v) {
        const id = v.meeting_id;
        const pin = v.passcode;
        switch (preset) {
            case 'zoom':
            case 'webex':
                return `p${id}#p${v.participant_id}#${pin === '' ? '' : `p${pin}#`}`;
            case 'teams':
                return `p${id}#${pin === '' ? '' : `p*p${pin}#`}`;
            case 'meet':
                return `p${id}#`;
            default: // mts_link, pbx
                return `p${id}#${pin === '' ? '' : `p${pin}#`}`;
        }
    }

    /**
     * @param {string} preset
     * @param {object} input field → text (custom: dtmf); missing = ''
     * @returns {{sequence: (string|null), fields: object, errors: object}}
     */
    function build(preset, input) {
        const source = input || {};
        const values = {};
        FIELDS.forEach((field) => { values[field] = ''; });
        if (typeof preset !== 'string' || !has(PRESETS, preset)) {
            return { sequence: null, fields: values, errors: { preset: `${ERROR_PREFIX}preset` } };
        }
        if (preset === CUSTOM) {
            const dtmf = normalizeDtmf(has(source, 'dtmf') ? String(source.dtmf) : '');
            return dtmf === null
                ? { sequence: null, fields: values, errors: { dtmf: `${ERROR_PREFIX}dtmf_format` } }
                : { sequence: dtmf, fields: values, errors: {} };
        }
        const errors = {};
        PRESETS[preset].forEach(([field, required, min, max]) => {
            const value = digits(has(source, field) && source[field] !== null && source[field] !== undefined ? source[field] : '');
            const key = `${ERROR_PREFIX}${preset}_${field}_`;
            if (value === '') {
                if (required) {
                    errors[field] = `${key}required`;
                }
                return;
            }
            if (value === null || value.length < min || value.length > max) {
                errors[field] = `${key}format`;
                return;
            }
            values[field] = value;
        });
        if (Object.keys(errors).length > 0) {
            return { sequence: null, fields: values, errors };
        }
        return { sequence: sequence(preset, values), fields: values, errors: {} };
    }

    /** Every error key a field can get under a preset (for the form's static prompts). */
    function errorKeys(preset, field) {
        if (preset === CUSTOM) {
            return field === 'dtmf' ? [`${ERROR_PREFIX}dtmf_format`] : [];
        }
        const spec = has(PRESETS, preset) ? PRESETS[preset].find((s) => s[0] === field) : undefined;
        if (!spec) {
            return [];
        }
        const key = `${ERROR_PREFIX}${preset}_${field}_`;
        return spec[1] ? [`${key}required`, `${key}format`] : [`${key}format`];
    }

    /**
     * What the form shows after "Will be sent as:" — never nothing: the sequence, or what an
     * empty sequence means, or that the fields must be corrected first.
     * @returns {{kind: string, code: string, note: string}} kind: sequence | empty | invalid
     */
    function preview(preset, input, translate) {
        const t = typeof translate === 'function' ? translate : (key) => key;
        const result = build(preset, input);
        if (result.sequence === null) {
            return { kind: 'invalid', code: '', note: t('module_conflink_dtmf_preview_invalid') };
        }
        if (result.sequence === '') {
            return { kind: 'empty', code: '', note: t('module_conflink_dtmf_preview_empty') };
        }
        return { kind: 'sequence', code: result.sequence, note: '' };
    }

    return {
        preview,
        ERROR_PREFIX, CUSTOM, FIELDS, DIGITS_MAX, PRESETS, NAMES, digits, normalizeDtmf, fieldsOf, build, errorKeys,
    };
}));
