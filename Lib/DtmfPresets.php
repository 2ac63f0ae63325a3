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
 * Builds a link's DTMF sequence from a dial-in preset and its named fields (the authority;
 * public/assets/js/src/conference-link-presets.js mirrors it, checked over the shared samples
 * in tests/js/fixtures/preset-cases.json).
 *
 * Each field of a preset is sent after the far end's prompt for it has ended (`p`), followed by
 * `#`. What the services ask, and in which order, is in docs/architecture.md ("Dial-in
 * presets"); lengths are enforced only where the service documents them (Zoom meeting IDs
 * 9–11 digits, Teams organizer PIN 4–12, Google Meet PIN at least 9), elsewhere any 1–16 digits
 * (a remote PBX room: 1–20, like our own room numbers).
 *
 * The preset and its fields are stored on the link (m_ConferenceLinks: preset, meeting_id,
 * participant_id, passcode); the worker only ever sees the built `dtmf`. Fields a preset does
 * not use are stored empty. `custom` keeps the free DTMF string (canonical form: see
 * LinkValidator::normaliseDtmf), which may contain `p` too.
 *
 * Error keys (field => key), texts in Messages/<lang>.php:
 *   preset  module_conflink_error_preset                    not one of PRESETS
 *   <field> module_conflink_error_<preset>_<field>_required a required field is empty
 *   <field> module_conflink_error_<preset>_<field>_format   not digits, or outside the length
 *   dtmf    module_conflink_error_dtmf_format                custom: not a valid DTMF string
 */
final class DtmfPresets
{
    public const CUSTOM = 'custom';

    /** The named fields a preset may use (columns of m_ConferenceLinks), in form order. */
    public const FIELDS = ['meeting_id', 'participant_id', 'passcode'];

    /** Digits of a field where the service documents no length. */
    public const DIGITS_MAX = 16;

    /**
     * preset => field => [required, min digits, max digits]; field order = order of sending.
     * The order of the presets is the order of the dropdown.
     */
    public const PRESETS = [
        'zoom' => [
            'meeting_id'     => [true, 9, 11],
            'participant_id' => [false, 1, self::DIGITS_MAX],
            'passcode'       => [false, 1, self::DIGITS_MAX],
        ],
        'teams' => [
            'meeting_id' => [true, 1, self::DIGITS_MAX],
            'passcode'   => [false, 4, 12],
        ],
        'webex' => [
            'meeting_id'     => [true, 1, self::DIGITS_MAX],
            'participant_id' => [false, 1, self::DIGITS_MAX],
            'passcode'       => [false, 1, self::DIGITS_MAX],
        ],
        'meet' => [
            'meeting_id' => [true, 9, self::DIGITS_MAX],
        ],
        'mts_link' => [
            'meeting_id' => [true, 1, self::DIGITS_MAX],
            'passcode'   => [false, 1, self::DIGITS_MAX],
        ],
        'pbx' => [
            'meeting_id' => [true, 1, 20],
            'passcode'   => [false, 1, self::DIGITS_MAX],
        ],
        self::CUSTOM => [],
    ];

    /** @return list<string> every preset name, in dropdown order */
    public static function names(): array
    {
        return array_keys(self::PRESETS);
    }

    /**
     * Canonical digits of a named field as typed: spaces dropped (invitations group digits as
     * "123 4567 8901") and one trailing # dropped (Teams prints "123 456 789#"); null if what
     * remains is not digits only. '' stays ''.
     */
    public static function digits(string $raw): ?string
    {
        $value = str_replace(' ', '', $raw);
        if (str_ends_with($value, '#')) {
            $value = substr($value, 0, -1);
        }

        return preg_match('/^[0-9]*$/D', $value) === 1 ? $value : null;
    }

    /**
     * @param array<string, string> $input field => raw text; `dtmf` for custom; missing = ''
     */
    public static function build(string $preset, array $input): PresetResult
    {
        if (!array_key_exists($preset, self::PRESETS)) {
            return new PresetResult(null, array_fill_keys(self::FIELDS, ''), ['preset' => LinkValidator::ERROR_PREFIX . 'preset']);
        }
        $values = array_fill_keys(self::FIELDS, '');
        if ($preset === self::CUSTOM) {
            $dtmf = LinkValidator::normaliseDtmf((string)($input['dtmf'] ?? ''));
            return $dtmf === null
                ? new PresetResult(null, $values, ['dtmf' => LinkValidator::ERROR_PREFIX . 'dtmf_format'])
                : new PresetResult($dtmf, $values, []);
        }

        $errors = [];
        foreach (self::PRESETS[$preset] as $field => [$required, $min, $max]) {
            $digits = self::digits((string)($input[$field] ?? ''));
            $key    = LinkValidator::ERROR_PREFIX . "{$preset}_{$field}_";
            if ($digits === '') {
                if ($required) {
                    $errors[$field] = $key . 'required';
                }
                continue;
            }
            if ($digits === null || strlen($digits) < $min || strlen($digits) > $max) {
                $errors[$field] = $key . 'format';
                continue;
            }
            $values[$field] = $digits;
        }
        if ($errors !== []) {
            return new PresetResult(null, $values, $errors);
        }

        return new PresetResult(self::sequence($preset, $values), $values, []);
    }

    /**
     * @param array<string, string> $v canonical digits per field ('' = not given)
     */
    private static function sequence(string $preset, array $v): string
    {
        $id  = $v['meeting_id'];
        $pin = $v['passcode'];

        return match ($preset) {
            // Meeting ID, then the participant ID prompt ("or press # to skip"), then the
            // passcode prompt, which comes only when the meeting has a passcode.
            'zoom', 'webex' => "p{$id}#p{$v['participant_id']}#" . ($pin === '' ? '' : "p{$pin}#"),
            // After the conference ID: "if you are the organizer, press star"; a guest sends
            // nothing and is let in, the organizer presses * and then gets the PIN prompt.
            'teams' => "p{$id}#" . ($pin === '' ? '' : "p*p{$pin}#"),
            'meet' => "p{$id}#",
            // Meeting ID and PIN as two separate commands, each after its own prompt.
            'mts_link', 'pbx' => "p{$id}#" . ($pin === '' ? '' : "p{$pin}#"),
        };
    }
}
