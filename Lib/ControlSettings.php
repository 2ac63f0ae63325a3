<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * The worker's control endpoint and token, read from the config file the worker runs with
 * (the same place conflink-ctl --config reads them from): the `control:` block as
 * ConfigRenderer writes it or the worker rewrites it after a push (PyYAML block style). No yaml
 * extension needed.
 */
final class ControlSettings
{
    public function __construct(public readonly string $endpoint, public readonly string $token)
    {
    }

    public static function defaultEndpoint(): string
    {
        return 'tcp://127.0.0.1:' . ConfigRenderer::DEFAULT_CONTROL_PORT;
    }

    /**
     * A missing or empty file gives the defaults: the worker serves the default endpoint while
     * it waits for its first config.
     *
     * @throws \RuntimeException naming the file and what is wrong
     */
    public static function fromConfigFile(string $path): self
    {
        clearstatcache(true, $path);
        if (!file_exists($path)) {
            return new self(self::defaultEndpoint(), '');
        }
        $text = @file_get_contents($path);
        if ($text === false) {
            throw new \RuntimeException("{$path}: cannot read the worker config");
        }

        return self::fromYaml($text, $path);
    }

    public static function fromYaml(string $text, string $source = 'config'): self
    {
        $endpoint = self::defaultEndpoint();
        $token    = '';
        $inside   = false;
        foreach (preg_split('/\r?\n/', $text) ?: [] as $line) {
            if (trim($line) === '' || ltrim($line)[0] === '#') {
                continue;
            }
            if ($line[0] !== ' ') {
                $inside = rtrim($line) === 'control:';
                if (!$inside && preg_match('/^control:\s*\S/', $line) === 1) {
                    throw new \RuntimeException("{$source}: control: expected a block mapping");
                }
                continue;
            }
            if (!$inside || preg_match('/^  (endpoint|token):(?: (.*))?$/D', $line, $m) !== 1) {
                continue;
            }
            $value = self::scalar(rtrim($m[2] ?? ''));
            if ($value === null) {
                throw new \RuntimeException("{$source}: control.{$m[1]}: cannot read the value");
            }
            if ($m[1] === 'endpoint') {
                $endpoint = $value;
            } else {
                $token = $value;
            }
        }

        return new self($endpoint, $token);
    }

    /**
     * One YAML scalar as the module (double-quoted, ConfigRenderer::quote) or the worker
     * (PyYAML's dump after a push: plain, single- or double-quoted) writes it. Endpoint and
     * token never hold spaces, so a plain scalar ends at the first space (a comment may follow).
     */
    public static function scalar(string $text): ?string
    {
        if ($text === '' || $text === '~' || $text === 'null') {
            return '';
        }
        if ($text[0] === '"') {
            return preg_match('/^("(?:[^"\\\\]|\\\\.)*")(?:\s+#.*)?$/D', $text, $m) === 1 ? self::unquote($m[1]) : null;
        }
        if ($text[0] === "'") {
            return preg_match("/^'((?:[^']|'')*)'(?:\\s+#.*)?$/D", $text, $m) === 1 ? str_replace("''", "'", $m[1]) : null;
        }

        return preg_match('/^(\S+)(?:\s+#.*)?$/D', $text, $m) === 1 ? $m[1] : null;
    }

    /** Inverse of ConfigRenderer::quote(); null for escapes it never writes. */
    public static function unquote(string $quoted): ?string
    {
        $inner = substr($quoted, 1, -1);
        $ok    = true;
        $out   = preg_replace_callback(
            '/\\\\(x[0-9A-Fa-f]{2}|.)/s',
            static function (array $m) use (&$ok): string {
                if ($m[1] === '"' || $m[1] === '\\' || $m[1] === '/') {
                    return $m[1];
                }
                if ($m[1][0] === 'x' && strlen($m[1]) === 3) {
                    return chr((int)hexdec(substr($m[1], 1)));
                }
                $ok = false;
                return '';
            },
            $inner
        );

        return $ok && is_string($out) ? $out : null;
    }
}
