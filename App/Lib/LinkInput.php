<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

use Modules\ModuleConferenceLink\Lib\LinkValidator;

/**
 * Turns the POST body of the modify form into the column values of one link.
 *
 * Kept apart from the controller so the exact shaping (trim, checkboxes, defaults) is
 * unit-tested; the JS twin is `prepare()` in public/assets/js/src/conference-link-rules.js.
 * Canonical forms (DTMF, decimals, back-off) come from the validator, Lib/LinkValidator.
 */
final class LinkInput
{
    /**
     * Editable columns of m_ConferenceLinks, in form order: the validator's columns without
     * the row id, so the two lists cannot drift apart.
     *
     * @return list<string>
     */
    public static function fields(): array
    {
        return array_values(array_diff(LinkValidator::FIELDS, ['id']));
    }

    public const CHECKBOX_FIELDS = ['redial_on_drop', 'enabled', 'announce'];

    /**
     * Value of every editable field on a new link: the validator's column defaults, and ''
     * for the fields the admin must fill in.
     *
     * @return array<string, string>
     */
    public static function defaults(): array
    {
        return array_merge(array_fill_keys(self::fields(), ''), LinkValidator::DEFAULTS);
    }

    /**
     * Trims text like form.js does before sending, and turns an absent checkbox into '0'
     * (an HTML form omits unchecked boxes; the validator would take the default '1').
     *
     * @param array<string, mixed> $post raw request values
     * @return array<string, mixed> one value per field in FIELDS (strings, unless the client sent arrays)
     */
    public static function fromPost(array $post): array
    {
        $values = [];
        foreach (self::fields() as $field) {
            if (in_array($field, self::CHECKBOX_FIELDS, true)) {
                // An unchecked box is simply absent from the POST body.
                $values[$field] = self::isChecked($post[$field] ?? null) ? '1' : '0';
                continue;
            }
            $raw = $post[$field] ?? null;
            if ($raw === null) {
                $values[$field] = self::defaults()[$field];
                continue;
            }
            // Arrays (field[]=…) go through untouched: the validator names them (not_text).
            $values[$field] = is_string($raw) ? trim($raw) : $raw;
        }
        return $values;
    }

    /**
     * Values of an existing record (or defaults for a new one) for the form.
     *
     * @param array<string, mixed> $record
     * @return array<string, string>
     */
    public static function forForm(array $record): array
    {
        $values = [];
        foreach (self::fields() as $field) {
            $value = $record[$field] ?? null;
            // NULL (a new link, or a column added after the row was saved) takes the default;
            // '' is a value of its own for the fields where empty means "none" or "off".
            $keepsEmpty = in_array($field, ['dtmf', 'callerid', 'description', 'room_keys', 'schedule'], true);
            $values[$field] = $value === null || ($value === '' && !$keepsEmpty)
                ? self::defaults()[$field]
                : (string)$value;
        }
        return $values;
    }

    public static function isChecked(mixed $value): bool
    {
        return $value === true || $value === 1 || $value === '1' || $value === 'on' || $value === 'true';
    }
}
