<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

/**
 * View variables for the AJAX replies the core `Form` object (main/form.js) understands:
 * `success`, `reload`, and errors both as `messages.error` keyed by field (current cores
 * mark the field) and as `message.error` list (older cores print it under the form).
 */
final class FormResponse
{
    /** LinkValidator errors whose text fits any field: the field's label goes in front. */
    public const FIELDLESS_ERRORS = [
        'module_conflink_error_not_text', 'module_conflink_error_too_long', 'module_conflink_error_checkbox',
    ];

    /**
     * @param array<string, string> $errors field => translation key
     * @param callable(string): string $translate
     * @return array{success: false, message: array{error: list<string>}, messages: array{error: array<string, string>}}
     */
    public static function invalid(array $errors, callable $translate): array
    {
        $byField = [];
        foreach ($errors as $field => $key) {
            $text = $translate($key);
            // A missing translation comes back as the key itself: still say which field.
            if ($text === '' || $text === $key) {
                $text = "{$key} ({$field})";
            } elseif (in_array($key, self::FIELDLESS_ERRORS, true)) {
                // The message list above the form does not say which field a generic error is for.
                $labelKey = 'module_conflink_' . $field;
                $label    = $translate($labelKey);
                $text     = ($label !== '' && $label !== $labelKey ? $label : (string)$field) . ': ' . $text;
            }
            $byField[(string)$field] = $text;
        }
        return [
            'success' => false,
            'message' => ['error' => array_values(array_map(self::escape(...), $byField))],
            'messages' => ['error' => array_map(self::escape(...), $byField)],
        ];
    }

    /**
     * @return array{success: true, reload: string}
     */
    public static function saved(string $reloadPathTemplate, string $id): array
    {
        return ['success' => true, 'reload' => str_replace('{id}', rawurlencode($id), $reloadPathTemplate)];
    }

    /**
     * @return array{success: false, message: array{error: list<string>}, messages: array{error: list<string>}}
     */
    public static function failed(string $text): array
    {
        $text = self::escape($text);
        return ['success' => false, 'message' => ['error' => [$text]], 'messages' => ['error' => [$text]]];
    }

    /** form.js inserts these strings as HTML. */
    public static function escape(string $text): string
    {
        return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }
}
