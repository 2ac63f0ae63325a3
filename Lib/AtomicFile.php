<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use RuntimeException;

/**
 * Write-then-rename, so a reader (the worker at a cold start) never sees half a file.
 */
final class AtomicFile
{
    public static function write(string $path, string $content, int $mode = 0600): void
    {
        $dir = dirname($path);
        if (!is_dir($dir) && !@mkdir($dir, 0755, true) && !is_dir($dir)) {
            throw new RuntimeException("cannot create directory {$dir}");
        }
        $tmp = @tempnam($dir, '.' . basename($path) . '.');
        if ($tmp === false) {
            throw new RuntimeException("cannot create a temporary file in {$dir}");
        }
        try {
            // Restrict before writing: the config holds the AMI secret and the control token.
            chmod($tmp, $mode);
            $fh = fopen($tmp, 'wb');
            if ($fh === false) {
                throw new RuntimeException("cannot open {$tmp}");
            }
            $ok = fwrite($fh, $content) === strlen($content) && fflush($fh);
            if ($ok && function_exists('fsync')) {
                $ok = fsync($fh);
            }
            fclose($fh);
            if (!$ok) {
                throw new RuntimeException("cannot write {$tmp}");
            }
            if (!rename($tmp, $path)) {
                throw new RuntimeException("cannot rename {$tmp} to {$path}");
            }
        } finally {
            if (is_file($tmp)) {
                @unlink($tmp);
            }
        }
    }
}
