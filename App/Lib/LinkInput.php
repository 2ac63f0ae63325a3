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
     * Where a new link in the form starts apart from the column defaults: keys from the room
     * on (*6), while a row from 0.1.0 (the column default, '') keeps them off.
     */
    public const NEW_LINK = ['room_keys' => '*6'];

    /**
     * Value of every editable field on a new link: the validator's column defaults with
     * NEW_LINK on top, and '' for the fields the admin must fill in.
     *
     * @return array<string, string>
     */
    public static function defaults(): array
    {
        return array_merge(self::columnDefaults(), self::NEW_LINK);
    }

    /**
     * Value of every editable field of a saved row where it is NULL or absent (a column added
     * after the row was saved): the column defaults, so an upgraded row keeps its behaviour.
     *
     * @return array<string, string>
     */
    public static function columnDefaults(): array
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
                // Not sent: the column default, so a save never turns on what the row had off.
                $values[$field] = self::columnDefaults()[$field];
                continue;
            }
            // Arrays (field[]=…) go through untouched: the validator names them (not_text).
            $values[$field] = is_string($raw) ? trim($raw) : $raw;
        }
        return $values;
    }

    /**
     * Values of an existing record (NULL columns: the column defaults) or of a new one (no id:
     * defaults(), NEW_LINK included) for the form.
     *
     * @param array<string, mixed> $record
     * @return array<string, string>
     */
    public static function forForm(array $record): array
    {
        $isNew = !isset($record['id']) || $record['id'] === '';
        $defaults = $isNew ? self::defaults() : self::columnDefaults();
        $values = [];
        foreach (self::fields() as $field) {
            $value = $record[$field] ?? null;
            // NULL (a new link, or a column added after the row was saved) takes the default;
            // '' is a value of its own for the fields where empty means "none" or "off".
            $keepsEmpty = in_array($field, ['dtmf', 'callerid', 'description', 'room_keys', 'schedule'], true);
            $values[$field] = $value === null || ($value === '' && !$keepsEmpty)
                ? $defaults[$field]
                : (string)$value;
        }
        return $values;
    }

    public static function isChecked(mixed $value): bool
    {
        return $value === true || $value === 1 || $value === '1' || $value === 'on' || $value === 'true';
    }
}
