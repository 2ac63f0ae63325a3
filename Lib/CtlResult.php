<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * What one conflink-ctl run answered.
 */
final class CtlResult
{
    /** Exit code used when conflink-ctl could not be run at all (same meaning as ctl's own 2). */
    public const EXIT_LOCAL = 2;

    /**
     * @param array<string, mixed> $reply the worker's reply as decoded (at least 'ok')
     */
    public function __construct(
        public readonly bool $ok,
        public readonly int $exitCode,
        public readonly array $reply,
        public readonly string $error,
        public readonly string $stdout = '',
        public readonly string $stderr = '',
    ) {
    }

    public static function localError(string $message): self
    {
        return new self(false, self::EXIT_LOCAL, ['ok' => false, 'error' => $message], $message);
    }

    /**
     * Decodes conflink-ctl output: a JSON object, "ok [json]", or "error: text".
     */
    public static function fromOutput(int $exitCode, string $stdout, string $stderr): self
    {
        $text  = trim($stdout);
        $reply = null;
        if ($text !== '' && $text[0] === '{') {
            $decoded = json_decode($text, true);
            if (is_array($decoded)) {
                $reply = $decoded;
            }
        } elseif (preg_match('/^ok(?:[ \t]+(\{[^\n]*\}))?[ \t]*$/D', explode("\n", $text)[0], $m) === 1) {
            // First line "ok {json}" is the machine-readable part; "note:" lines follow for people.
            $reply   = ['ok' => true];
            $details = isset($m[1]) ? json_decode($m[1], true) : null;
            if (is_array($details)) {
                $reply += $details;
            }
        } elseif (str_starts_with($text, 'error: ')) {
            $reply = ['ok' => false, 'error' => trim(explode("\n", substr($text, 7))[0])];
        }
        if ($reply === null) {
            $message = trim($stderr) !== '' ? trim($stderr) : ($text !== '' ? $text : "conflink-ctl exit code {$exitCode}");
            $reply   = ['ok' => false, 'error' => $message];
        }
        $ok    = $exitCode === 0 && ($reply['ok'] ?? false) === true;
        $error = $ok ? '' : (string)($reply['error'] ?? (trim($stderr) !== '' ? trim($stderr) : "conflink-ctl exit code {$exitCode}"));
        if (!$ok && ($reply['ok'] ?? false) === true) {
            $reply['ok'] = false;
        }
        if (!$ok && !isset($reply['error'])) {
            $reply['error'] = $error;
        }

        return new self($ok, $exitCode, $reply, $error, $stdout, $stderr);
    }
}
