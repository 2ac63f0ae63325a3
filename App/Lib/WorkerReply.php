<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

/**
 * Unwraps the module REST callback's result (a PBXApiResult: success, data, messages)
 * into the worker's own reply object {"ok": bool, "error"?: string, …}.
 *
 * The callback passes the worker's JSON through as `data`; when the worker cannot be
 * reached there is no JSON, only core's `messages`, which become the error text.
 */
final class WorkerReply
{
    /**
     * @return array<string, mixed> always with a boolean 'ok' and, when not ok, a string 'error'
     */
    public static function fromApiResult(bool $success, mixed $data, mixed $messages): array
    {
        if (is_string($data) && $data !== '') {
            $decoded = json_decode($data, true);
            if (is_array($decoded)) {
                $data = $decoded;
            }
        }
        if (is_array($data) && is_bool($data['ok'] ?? null)) {
            if ($data['ok'] === false) {
                $data['error'] = self::errorText($data['error'] ?? null, $messages);
            }
            return $data;
        }
        if ($success) {
            return ['ok' => true] + (is_array($data) ? $data : []);
        }
        return ['ok' => false, 'error' => self::errorText(null, $messages)];
    }

    /**
     * The AJAX reply of the dial/hang-up/test-call actions.
     *
     * @param array<string, mixed> $reply from fromApiResult()
     * @return array{success: bool, message: string}
     */
    public static function forAction(array $reply, string $okText): array
    {
        if (($reply['ok'] ?? false) === true) {
            return ['success' => true, 'message' => $okText];
        }
        return ['success' => false, 'message' => (string)($reply['error'] ?? 'worker_error')];
    }

    private static function errorText(mixed $error, mixed $messages): string
    {
        if (is_string($error) && $error !== '') {
            return self::clip($error);
        }
        $texts = [];
        if (is_array($messages)) {
            array_walk_recursive($messages, static function ($value) use (&$texts): void {
                if (is_scalar($value) && trim((string)$value) !== '') {
                    $texts[] = trim((string)$value);
                }
            });
        } elseif (is_scalar($messages) && (string)$messages !== '') {
            $texts[] = (string)$messages;
        }
        return $texts === [] ? 'worker_unreachable' : self::clip(implode('; ', $texts));
    }

    private static function clip(string $text): string
    {
        $text = (string)preg_replace('/[\x00-\x1F\x7F]+/', ' ', $text);
        return mb_substr(trim($text), 0, 500);
    }
}
