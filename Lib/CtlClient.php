<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Runs the bundled `conflink-ctl` and decodes its answer. Used for push-config only, which
 * sends the YAML file as parsed by the worker's own loader; the other commands go through
 * WorkerClient, which speaks ZeroMQ from PHP without starting a process.
 *
 * conflink-ctl prints the worker's JSON reply for `status --json`, and "ok [json]" or
 * "error: <text>" for the other commands; its exit code is 0 only when the worker said ok.
 * conflink-ctl has its own 3 s timeout; the hard limit here only guards against a launcher
 * that hangs before it gets that far.
 */
final class CtlClient
{
    private ModulePaths $paths;
    private float $hardTimeout;

    public function __construct(ModulePaths $paths, float $hardTimeout = 10.0)
    {
        $this->paths       = $paths;
        $this->hardTimeout = $hardTimeout;
    }

    public function pushConfig(string $file): CtlResult
    {
        return $this->run(['push-config', $file]);
    }

    /**
     * @param list<string> $args sub-command and arguments
     */
    public function run(array $args): CtlResult
    {
        $argv = WorkerCommand::ctl($this->paths, $args);
        if (!is_file($argv[0]) || !is_executable($argv[0])) {
            return CtlResult::localError("conflink-ctl is missing or not executable: {$argv[0]}");
        }
        $descriptors = [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']];
        $process     = @proc_open($argv, $descriptors, $pipes);
        if ($process === false) {
            return CtlResult::localError("cannot run {$argv[0]}");
        }
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        $stdout   = '';
        $stderr   = '';
        $deadline = microtime(true) + $this->hardTimeout;
        $timedOut = false;
        $open     = [1 => $pipes[1], 2 => $pipes[2]];
        while ($open !== []) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                $timedOut = true;
                break;
            }
            $read   = array_values($open);
            $write  = null;
            $except = null;
            $ready  = @stream_select($read, $write, $except, 0, (int)min(200000, $left * 1000000));
            if ($ready === false) {
                continue;
            }
            foreach ($open as $n => $pipe) {
                $chunk = fread($pipe, 65536);
                if (is_string($chunk) && $chunk !== '') {
                    if ($n === 1) {
                        $stdout .= $chunk;
                    } else {
                        $stderr .= $chunk;
                    }
                }
                if (feof($pipe)) {
                    fclose($pipe);
                    unset($open[$n]);
                }
            }
        }
        foreach ($open as $pipe) {
            fclose($pipe);
        }
        if ($timedOut) {
            $status = proc_get_status($process);
            if ($status['running']) {
                PidFile::terminate((int)$status['pid'], 1.0);
            }
            proc_close($process);
            return CtlResult::localError(sprintf('conflink-ctl did not finish within %.0f s', $this->hardTimeout));
        }
        $exitCode = self::waitExit($process);

        return CtlResult::fromOutput($exitCode, $stdout, $stderr);
    }

    /** @param resource $process */
    private static function waitExit($process): int
    {
        // proc_close() returns -1 when the exit code was already collected by proc_get_status().
        $deadline = microtime(true) + 2.0;
        do {
            $status = proc_get_status($process);
            if (!$status['running']) {
                proc_close($process);
                return (int)$status['exitcode'];
            }
            usleep(10000);
        } while (microtime(true) < $deadline);

        return proc_close($process);
    }
}
