<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

/**
 * Temp directories and small executables for tests that run real processes.
 */
final class Support
{
    /** @var list<string> */
    private static array $dirs = [];

    public static function tempDir(string $tag): string
    {
        $dir = sys_get_temp_dir() . '/conflink-phpunit-' . $tag . '-' . getmypid() . '-' . bin2hex(random_bytes(4));
        if (!mkdir($dir, 0700, true)) {
            throw new \RuntimeException("cannot create {$dir}");
        }
        self::$dirs[] = $dir;
        return $dir;
    }

    public static function script(string $path, string $body): string
    {
        $dir = dirname($path);
        if (!is_dir($dir)) {
            mkdir($dir, 0755, true);
        }
        file_put_contents($path, "#!/bin/sh\n" . $body . "\n");
        chmod($path, 0755);
        return $path;
    }

    /** A loopback TCP port that was free a moment ago (the kernel's pick). */
    public static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        if ($s === false) {
            throw new \RuntimeException('cannot bind a loopback port');
        }
        $port = (int)substr((string)strrchr((string)stream_socket_get_name($s, false), ':'), 1);
        fclose($s);
        return $port;
    }

    public static function removeAll(): void
    {
        foreach (self::$dirs as $dir) {
            if (is_dir($dir)) {
                exec('rm -rf ' . escapeshellarg($dir));
            }
        }
        self::$dirs = [];
    }

    public static function waitFor(callable $condition, float $seconds): bool
    {
        $deadline = microtime(true) + $seconds;
        do {
            if ($condition()) {
                return true;
            }
            usleep(20000);
        } while (microtime(true) < $deadline);
        return (bool)$condition();
    }
}
