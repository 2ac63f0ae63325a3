<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

use Modules\ModuleConferenceLink\Lib\DtmfPresets;
use Modules\ModuleConferenceLink\Lib\LinkValidator;

/**
 * What the modify page shows for the dial-in presets, from the builder's own table
 * (Lib/DtmfPresets), translated: the view renders every preset's help line and every field
 * label once, and the page script shows the ones of the chosen preset.
 */
final class PresetForm
{
    /**
     * @param callable(string): string $translate
     * @return array{presets: array<string, array{name: string, help: string}>, fields: array<string, list<array{preset: string, label: string, required: bool}>>}
     *         fields: named field => the presets that use it, with that preset's label
     */
    public static function view(callable $translate): array
    {
        $presets = [];
        $fields = array_fill_keys(DtmfPresets::FIELDS, []);
        foreach (DtmfPresets::PRESETS as $preset => $spec) {
            $presets[$preset] = [
                'name' => $translate("module_conflink_preset_{$preset}"),
                'help' => $translate("module_conflink_preset_{$preset}_help"),
            ];
            foreach ($spec as $field => [$required]) {
                $fields[$field][] = [
                    'preset' => $preset,
                    'label' => $translate("module_conflink_{$preset}_{$field}"),
                    'required' => $required,
                ];
            }
        }
        return ['presets' => $presets, 'fields' => $fields];
    }

    /** The collapsed "Advanced" section's fields. */
    public const ADVANCED = ['prompt_silence', 'prompt_timeout', 'dtmf_mode', 'dead_air', 'end_cooldown'];

    /**
     * The section opens by itself when one of its values is not the default, so a link that
     * uses them never hides how it behaves.
     *
     * @param array<string, string> $values LinkInput::forForm() values
     */
    public static function advancedOpen(array $values): bool
    {
        foreach (self::ADVANCED as $field) {
            if (($values[$field] ?? LinkValidator::DEFAULTS[$field]) !== LinkValidator::DEFAULTS[$field]) {
                return true;
            }
        }
        return false;
    }
}
