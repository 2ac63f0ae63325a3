<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use Closure;

/**
 * Keeps one child process (the Python worker) running: starts it, notices when it dies,
 * starts it again after a bounded back-off, records its PID, and stops it on request.
 *
 * Plain PHP (proc_open, posix) so it is tested with real processes; the MikoPBX worker
 * class only wires signals and the "is the module still enabled" check into it.
 */
final class ChildSupervisor
{
    /** Rotate the stderr capture at this size (it only holds crashes and import errors). */
    public const MAX_STDERR_BYTES = 1048576;
    /**
     * A child that ends within this many seconds did not start (self-check failed, no python3,
     * bad config, port taken): its own words become the StartProblem the pages show.
     */
    public const START_WINDOW = 10.0;
    /** At most this much of one attempt's output is read back (the report is a few lines). */
    private const ATTEMPT_OUTPUT_BYTES = 8192;

    /**
     * How long the previous wrapper's worker gets to exit on SIGUSR1 at a hand-over before
     * SIGKILL. The worker's own restart stop is bounded by conflink/worker.py STOP_TIMEOUT
     * (1.8 s); SIGKILL is harmless here, the calls stay up either way and are adopted.
     */
    public const HANDOVER_GRACE = 3.0;

    /** @var list<string> */
    private array $argv;
    private PidFile $pidFile;
    private BackoffSchedule $backoff;
    private string $stderrLog;
    private Closure $keepRunning;
    private Closure $log;
    private float $keepRunningEvery;
    private float $stopGrace;
    private ?StartProblem $startProblem;
    private float $startWindow;
    /** Size of the stderr log when the current child was started: its output begins there. */
    private int $stderrOffset = 0;
    private bool $startConfirmed = false;

    /** @var resource|null */
    private $process = null;
    private int $childPid = 0;
    private float $startedAt = 0.0;
    private float $nextStartAt = 0.0;
    private float $nextKeepRunningCheck = 0.0;
    private bool $stopRequested = false;
    /**
     * The Python worker hangs up its external calls on SIGTERM (a final stop) and leaves them
     * up on SIGUSR1 (a restart: the next worker adopts them by their conflink- Uniqueid).
     */
    private int $stopSignal = SIGTERM;
    /** Set by handOver(): run() leaves the child running for the next wrapper. */
    private bool $handingOver = false;
    private int $starts = 0;

    /**
     * @param list<string> $argv        program and arguments (run without a shell)
     * @param ?Closure     $keepRunning fn(): bool — false ends run(), e.g. module disabled
     * @param ?Closure     $log         fn(string $message, bool $isError): void
     * @param ?StartProblem $startProblem where to record why a start failed (null: nowhere)
     * @param float         $startWindow  a child up this long has started (see START_WINDOW)
     */
    public function __construct(
        array $argv,
        PidFile $pidFile,
        BackoffSchedule $backoff,
        string $stderrLog,
        ?Closure $keepRunning = null,
        ?Closure $log = null,
        float $keepRunningEvery = 5.0,
        float $stopGrace = 10.0,
        ?StartProblem $startProblem = null,
        float $startWindow = self::START_WINDOW,
    ) {
        $this->argv             = array_values($argv);
        $this->pidFile          = $pidFile;
        $this->backoff          = $backoff;
        $this->stderrLog        = $stderrLog;
        $this->keepRunning      = $keepRunning ?? static fn (): bool => true;
        $this->log              = $log ?? static function (string $message, bool $isError): void {
        };
        $this->keepRunningEvery = $keepRunningEvery;
        $this->stopGrace        = $stopGrace;
        $this->startProblem     = $startProblem;
        $this->startWindow      = $startWindow;
    }

    /**
     * Supervises until requestStop(), handOver() or keepRunning() says no; the child is stopped
     * on return, except after handOver().
     */
    public function run(float $pollInterval = 0.5): void
    {
        $this->takeOverFromPreviousWorker();
        while ($this->tick(microtime(true))) {
            // usleep returns early when a signal arrives, so stop requests are seen promptly.
            usleep((int)($pollInterval * 1000000));
        }
        if ($this->handingOver) {
            $this->release();
            return;
        }
        $this->stopChild();
    }

    /**
     * One supervision step. Returns false when supervision should end.
     */
    public function tick(float $now): bool
    {
        if ($this->stopRequested) {
            return false;
        }
        if ($now >= $this->nextKeepRunningCheck) {
            $this->nextKeepRunningCheck = $now + $this->keepRunningEvery;
            if (!($this->keepRunning)()) {
                ($this->log)('module disabled or stop requested: stopping the worker', false);
                return false;
            }
        }
        if ($this->process !== null) {
            $status = proc_get_status($this->process);
            if ($status['running']) {
                if (!$this->startConfirmed && $now - $this->startedAt >= $this->startWindow) {
                    $this->startConfirmed = true;
                    $this->startProblem?->clear();
                }
                return true;
            }
            $uptime = $now - $this->startedAt;
            $code   = $status['signaled'] ? 'signal ' . $status['termsig'] : 'exit code ' . $status['exitcode'];
            proc_close($this->process);
            $this->process  = null;
            $this->childPid = 0;
            $this->pidFile->remove();
            $delay             = $this->backoff->nextDelay($uptime);
            $this->nextStartAt = $now + $delay;
            $words             = $this->startConfirmed ? '' : StartProblem::summarise($this->attemptOutput());
            if ($words !== '') {
                // One line per failed attempt, in the child's own words (the self-check report).
                $this->startProblem?->write($words);
                ($this->log)(sprintf('worker ended (%s) after %.1f s without starting: %s; next start in %.1f s', $code, $uptime, $words, $delay), true);
            } else {
                if (!$this->startConfirmed) {
                    $this->startProblem?->write("the worker ended ({$code}) after " . sprintf('%.1f', $uptime) . " s without saying why; see {$this->stderrLog}");
                }
                ($this->log)(sprintf('worker ended (%s) after %.1f s; next start in %.1f s (see %s)', $code, $uptime, $delay, $this->stderrLog), true);
            }
            return true;
        }
        if ($now >= $this->nextStartAt) {
            $this->spawn($now);
        }

        return true;
    }

    /**
     * Signal-safe: only sets flags; run() stops the child on its way out. With $keepCalls the
     * child is asked to leave its calls up for the next worker (a restart, not a final stop).
     */
    public function requestStop(bool $keepCalls = false): void
    {
        $this->stopRequested = true;
        $this->stopSignal    = $keepCalls ? SIGUSR1 : SIGTERM;
    }

    /**
     * Signal-safe: ends run() at once and leaves the child running, PID file and all, for the
     * next wrapper, which stops it with SIGUSR1 right before starting its own (run()).
     *
     * Why: MikoPBX's soft restart (SIGUSR1 to every worker) waits at most 5 s, polling once a
     * second, for a wrapper to exit, and does not start a new one while it is still alive
     * (Processes::handleRestartAction). Exiting at once fits that window whatever the child
     * does, and the old worker keeps handling events while core starts the new wrapper; the
     * gap without a worker shrinks to one Python stop and start.
     */
    public function handOver(): void
    {
        $this->stopRequested = true;
        $this->handingOver   = true;
    }

    public function childPid(): int
    {
        return $this->childPid;
    }

    public function starts(): int
    {
        return $this->starts;
    }

    /** Seconds from $now until the next planned start (0 when due or running). */
    public function secondsUntilNextStart(float $now): float
    {
        return $this->process === null ? max(0.0, $this->nextStartAt - $now) : 0.0;
    }

    /** Sends a signal to the running child; false when there is none. */
    public function signalChild(int $signal): bool
    {
        if ($this->childPid <= 0) {
            return false;
        }

        return posix_kill($this->childPid, $signal);
    }

    /**
     * Stops the child (SIGTERM, or SIGUSR1 after requestStop(keepCalls: true); then SIGKILL
     * after the grace time) and removes the PID file.
     */
    public function stopChild(?int $signal = null): void
    {
        if ($this->process !== null) {
            $pid = $this->childPid;
            if ($pid > 0) {
                PidFile::terminate($pid, $this->stopGrace, $signal ?? $this->stopSignal);
            }
            proc_close($this->process);
            $this->process  = null;
            $this->childPid = 0;
            ($this->log)('worker stopped', false);
        }
        $this->pidFile->remove();
    }

    /**
     * Drops the child without stopping or waiting for it (handOver()): PHP's process handle
     * does not wait for the child when released, and the PID file stays for the next wrapper.
     */
    private function release(): void
    {
        if ($this->process !== null) {
            ($this->log)("leaving the worker (pid {$this->childPid}) running for the next wrapper", false);
            $this->process  = null;
            $this->childPid = 0;
        }
    }

    /**
     * A worker left by the previous wrapper (handed over on a soft restart, or orphaned by a
     * wrapper killed hard) holds the control port; a new one would fail to bind. Stop it with
     * SIGUSR1 so its calls stay up for the new worker to adopt.
     */
    private function takeOverFromPreviousWorker(): void
    {
        $pid = $this->pidFile->runningPid();
        if ($pid !== null) {
            ($this->log)("taking over from the previous worker (pid {$pid}): its calls stay up", false);
            $this->pidFile->stop(self::HANDOVER_GRACE, SIGUSR1);
        }
    }

    private function spawn(float $now): void
    {
        $program = $this->argv[0] ?? '';
        if (!is_file($program) || !is_executable($program)) {
            ($this->log)("worker launcher is missing or not executable: {$program}", true);
        }
        $this->prepareStderrLog();
        clearstatcache(true, $this->stderrLog);
        $this->stderrOffset   = is_file($this->stderrLog) ? (int)filesize($this->stderrLog) : 0;
        $this->startConfirmed = false;
        $descriptors = [
            0 => ['file', '/dev/null', 'r'],
            1 => ['file', $this->stderrLog, 'a'],
            2 => ['file', $this->stderrLog, 'a'],
        ];
        $this->starts++;
        $this->startedAt = $now;
        $process         = @proc_open($this->argv, $descriptors, $pipes);
        if ($process === false) {
            $delay             = $this->backoff->nextDelay(0.0);
            $this->nextStartAt = $now + $delay;
            $this->startProblem?->write("cannot run {$program}");
            ($this->log)(sprintf('cannot start %s; next try in %.1f s', $program, $delay), true);
            return;
        }
        $this->process  = $process;
        $status         = proc_get_status($process);
        $this->childPid = (int)$status['pid'];
        $this->pidFile->write($this->childPid);
        ($this->log)("worker started (pid {$this->childPid})", false);
    }

    /** What the child that just ended wrote to the stderr log (its tail when it is long). */
    private function attemptOutput(): string
    {
        clearstatcache(true, $this->stderrLog);
        $size = is_file($this->stderrLog) ? (int)filesize($this->stderrLog) : 0;
        if ($size <= $this->stderrOffset) {
            return '';
        }
        $from = max($this->stderrOffset, $size - self::ATTEMPT_OUTPUT_BYTES);
        $text = @file_get_contents($this->stderrLog, false, null, $from, $size - $from);

        return is_string($text) ? $text : '';
    }

    private function prepareStderrLog(): void
    {
        $dir = dirname($this->stderrLog);
        if (!is_dir($dir)) {
            @mkdir($dir, 0755, true);
        }
        clearstatcache(true, $this->stderrLog);
        if (is_file($this->stderrLog) && filesize($this->stderrLog) > self::MAX_STDERR_BYTES) {
            @rename($this->stderrLog, $this->stderrLog . '.1');
        }
    }
}
