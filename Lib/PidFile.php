<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use RuntimeException;

/**
 * PID file of the Python worker, and stopping that process by it.
 *
 * Why a PID file: core stops module workers with `killall <PHP class>` and the uninstaller
 * looks for processes holding bin/* open; neither finds a Python interpreter. Before
 * signalling, the PID is checked against /proc/<pid>/cmdline (when /proc exists) so a stale
 * file whose PID was reused by another program never gets that program killed.
 */
final class PidFile
{
    private string $path;
    private string $marker;

    /**
     * @param string $path   file path
     * @param string $marker substring every command line of ours contains (e.g. "conflink")
     */
    public function __construct(string $path, string $marker = 'conflink')
    {
        $this->path   = $path;
        $this->marker = $marker;
    }

    public function path(): string
    {
        return $this->path;
    }

    public function write(int $pid): void
    {
        if ($pid <= 0) {
            throw new RuntimeException("pid file {$this->path}: invalid pid {$pid}");
        }
        AtomicFile::write($this->path, $pid . "\n", 0644);
    }

    /** The recorded PID, or null when the file is missing or holds anything but a PID. */
    public function read(): ?int
    {
        if (!is_file($this->path)) {
            return null;
        }
        $text = @file_get_contents($this->path, false, null, 0, 64);
        if ($text === false || preg_match('/^\s*([1-9][0-9]{0,9})\s*$/D', $text, $m) !== 1) {
            return null;
        }

        return (int)$m[1];
    }

    public function remove(): void
    {
        if (is_file($this->path)) {
            @unlink($this->path);
        }
    }

    /** The recorded PID if that process is alive and is ours, else null. */
    public function runningPid(): ?int
    {
        $pid = $this->read();
        if ($pid === null || !self::isAlive($pid) || !$this->isOurs($pid)) {
            return null;
        }

        return $pid;
    }

    public static function isAlive(int $pid): bool
    {
        if ($pid <= 0) {
            return false;
        }
        // PHP caches stat results; a reaped PID would still look alive.
        clearstatcache(true, '/proc/' . $pid);
        if (is_dir('/proc/' . $pid)) {
            // A zombie (exited, not yet reaped) is not alive for our purposes.
            $stat = @file_get_contents('/proc/' . $pid . '/stat');
            if (is_string($stat) && preg_match('/\)\s+Z\s/', $stat) === 1) {
                return false;
            }
            return true;
        }
        if (is_dir('/proc/self')) {
            return false;
        }

        return function_exists('posix_kill') && posix_kill($pid, 0);
    }

    public function isOurs(int $pid): bool
    {
        $cmdline = @file_get_contents('/proc/' . $pid . '/cmdline');
        if ($cmdline === false) {
            // Without /proc there is nothing to compare with; trust the file.
            return !is_dir('/proc/self');
        }

        return str_contains($cmdline, $this->marker);
    }

    /**
     * Stops the recorded process: $signal (SIGTERM: a final stop; SIGUSR1: calls stay up for
     * the next worker), then SIGKILL after $graceSeconds. Removes the file.
     *
     * @return bool true if a process was running and is gone now
     */
    public function stop(float $graceSeconds = 10.0, int $signal = SIGTERM): bool
    {
        $pid = $this->runningPid();
        if ($pid === null) {
            $this->remove();
            return false;
        }
        $gone = self::terminate($pid, $graceSeconds, $signal);
        if ($gone) {
            $this->remove();
        }

        return $gone;
    }

    /**
     * $signal (SIGTERM by default), wait up to $graceSeconds, then SIGKILL. True when the
     * process is gone.
     */
    public static function terminate(int $pid, float $graceSeconds, int $signal = SIGTERM): bool
    {
        if (!self::isAlive($pid)) {
            return true;
        }
        posix_kill($pid, $signal);
        if (self::waitGone($pid, $graceSeconds)) {
            return true;
        }
        posix_kill($pid, SIGKILL);

        return self::waitGone($pid, 2.0);
    }

    private static function waitGone(int $pid, float $seconds): bool
    {
        $deadline = microtime(true) + $seconds;
        do {
            if (function_exists('pcntl_waitpid')) {
                // Reap it if it is our own child, so it does not linger as a zombie.
                pcntl_waitpid($pid, $status, WNOHANG);
            }
            if (!self::isAlive($pid)) {
                return true;
            }
            usleep(50000);
        } while (microtime(true) < $deadline);

        return !self::isAlive($pid);
    }
}
