<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use InvalidArgumentException;
use Modules\ModuleConferenceLink\Lib\AtomicFile;
use Modules\ModuleConferenceLink\Lib\BackoffSchedule;
use Modules\ModuleConferenceLink\Lib\ChildSupervisor;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\PidFile;
use Modules\ModuleConferenceLink\Lib\WorkerCommand;
use PHPUnit\Framework\TestCase;

/**
 * Back-off schedule, PID file handling and the child supervisor, with real processes
 * (small sh scripts named like the real launcher).
 */
final class SupervisionTest extends TestCase
{
    /** @var list<int> */
    private array $spawned = [];

    protected function tearDown(): void
    {
        foreach ($this->spawned as $pid) {
            if (PidFile::isAlive($pid)) {
                posix_kill($pid, SIGKILL);
            }
        }
        Support::removeAll();
    }

    // ---------------------------------------------------------------- back-off

    public function testBackoffGrowsAndStaysAtTheLastValue(): void
    {
        $b = new BackoffSchedule([1, 2, 5], 60.0);
        self::assertSame([1.0, 2.0, 5.0, 5.0, 5.0], [
            $b->nextDelay(0.1), $b->nextDelay(3), $b->nextDelay(0), $b->nextDelay(59.9), $b->nextDelay(1),
        ]);
        self::assertSame(5, $b->failures());
    }

    public function testBackoffStartsOverAfterAHealthyRun(): void
    {
        $b = new BackoffSchedule([1, 2, 5], 60.0);
        $b->nextDelay(0);
        $b->nextDelay(0);
        self::assertSame(1.0, $b->nextDelay(60.0), 'ran a minute: not a crash loop');
        self::assertSame(2.0, $b->nextDelay(0.5));
        $b->reset();
        self::assertSame(1.0, $b->nextDelay(0));
    }

    public function testDefaultScheduleIsBounded(): void
    {
        $b = new BackoffSchedule();
        $delays = [];
        for ($i = 0; $i < 20; $i++) {
            $delays[] = $b->nextDelay(0);
        }
        self::assertSame(1.0, $delays[0]);
        self::assertSame(60.0, max($delays));
        self::assertSame(60.0, $delays[19]);
    }

    public function testBackoffRejectsBadDelays(): void
    {
        foreach ([[], [0], [-1], ['5'], [INF]] as $bad) {
            try {
                new BackoffSchedule($bad);
                self::fail('accepted ' . json_encode($bad));
            } catch (InvalidArgumentException $e) {
                self::assertStringContainsString('backoff', $e->getMessage());
            }
        }
    }

    // ---------------------------------------------------------------- pid file

    /** A `sleep` whose command line carries the marker "conflink" (the temp dir's name). */
    private static function sleeper(string $dir): string
    {
        $link = "{$dir}/bin/conflink-sleep";
        if (!is_link($link)) {
            @mkdir("{$dir}/bin", 0755, true);
            symlink(trim((string)shell_exec('command -v sleep')), $link);
        }
        return $link;
    }

    private function spawnMarked(string $dir, string $name = 'conflink-worker'): int
    {
        $script = Support::script("{$dir}/bin/{$name}", 'exec ' . self::sleeper($dir) . ' 30');
        $proc   = proc_open([$script], [0 => ['file', '/dev/null', 'r']], $pipes);
        self::assertIsResource($proc);
        $pid = proc_get_status($proc)['pid'];
        $this->spawned[] = $pid;
        // The script execs sleep: wait until its command line is no longer the shell's.
        Support::waitFor(static fn (): bool => str_contains((string)@file_get_contents("/proc/{$pid}/cmdline"), 'conflink-sleep'), 2.0);
        return $pid;
    }

    public function testPidFileRoundTrip(): void
    {
        $dir = Support::tempDir('pid');
        $pf  = new PidFile("{$dir}/run/x.pid");
        self::assertNull($pf->read());
        $pf->write(12345);
        self::assertSame(12345, $pf->read());
        self::assertSame("12345\n", file_get_contents("{$dir}/run/x.pid"));
        $pf->remove();
        self::assertFileDoesNotExist("{$dir}/run/x.pid");
    }

    public function testGarbagePidFileReadsAsNone(): void
    {
        $dir = Support::tempDir('pid');
        foreach (['', 'abc', '-1', '0', "12\n34", '1; rm -rf /', str_repeat('9', 20)] as $junk) {
            file_put_contents("{$dir}/x.pid", $junk);
            self::assertNull((new PidFile("{$dir}/x.pid"))->read(), json_encode($junk));
        }
    }

    public function testStopTerminatesOurProcess(): void
    {
        $dir = Support::tempDir('pid');
        // Marker is part of the sleep's argv via a wrapper named like ours: use the test dir name.
        $proc = proc_open([self::sleeper($dir), '30'], [0 => ['file', '/dev/null', 'r']], $pipes);
        $pid  = proc_get_status($proc)['pid'];
        $this->spawned[] = $pid;
        $pf = new PidFile("{$dir}/w.pid", 'conflink-sleep');
        self::assertTrue(Support::waitFor(static fn (): bool => $pf->isOurs($pid), 2.0));
        $pf->write($pid);
        self::assertSame($pid, $pf->runningPid());
        self::assertTrue($pf->stop(5.0));
        self::assertFalse(PidFile::isAlive($pid));
        self::assertFileDoesNotExist("{$dir}/w.pid");
        proc_close($proc);
    }

    public function testStopNeverKillsAForeignProcessWithAReusedPid(): void
    {
        $dir = Support::tempDir('pid');
        $proc = proc_open(['sleep', '30'], [0 => ['file', '/dev/null', 'r']], $pipes);
        $pid  = proc_get_status($proc)['pid'];
        $this->spawned[] = $pid;
        $pf = new PidFile("{$dir}/w.pid", 'conflink-marker');
        $pf->write($pid);
        self::assertNull($pf->runningPid());
        self::assertFalse($pf->stop(0.5));
        self::assertTrue(PidFile::isAlive($pid), 'a process that is not ours must survive');
        self::assertFileDoesNotExist("{$dir}/w.pid", 'the stale file is cleaned up');
        posix_kill($pid, SIGKILL);
        proc_close($proc);
    }

    public function testTerminateFallsBackToSigkill(): void
    {
        $dir    = Support::tempDir('pid');
        $script = Support::script("{$dir}/stubborn", "trap '' TERM\nwhile :; do sleep 0.1; done");
        $proc   = proc_open([$script], [0 => ['file', '/dev/null', 'r']], $pipes);
        $pid    = proc_get_status($proc)['pid'];
        $this->spawned[] = $pid;
        usleep(200000);
        $t0 = microtime(true);
        self::assertTrue(PidFile::terminate($pid, 0.5));
        self::assertLessThan(3.0, microtime(true) - $t0);
        self::assertFalse(PidFile::isAlive($pid));
        proc_close($proc);
    }

    // ---------------------------------------------------------------- command lines

    public function testCommandLines(): void
    {
        $p = ModulePaths::forPbx('/storage/usbdisk1/mikopbx/custom_modules/ModuleConferenceLink', '/storage/usbdisk1/mikopbx/log/');
        self::assertSame([
            '/storage/usbdisk1/mikopbx/custom_modules/ModuleConferenceLink/bin/conflink-worker',
            '--config', '/etc/custom_modules/ModuleConferenceLink/conflink.yaml',
            '--log-file', '/storage/usbdisk1/mikopbx/log/ModuleConferenceLink/conflink-worker.log',
        ], WorkerCommand::worker($p));
        self::assertSame([
            '/storage/usbdisk1/mikopbx/custom_modules/ModuleConferenceLink/bin/conflink-ctl',
            '--config', '/etc/custom_modules/ModuleConferenceLink/conflink.yaml',
            'status', '--json',
        ], WorkerCommand::ctl($p, ['status', '--json']));
        self::assertSame('/var/run/custom_modules/ModuleConferenceLink/conflink-worker.pid', $p->pidFile());
    }

    public function testAtomicWriteIsPrivateAndLeavesNoTemporaries(): void
    {
        $dir = Support::tempDir('atomic');
        AtomicFile::write("{$dir}/sub/c.yaml", "a: 1\n");
        AtomicFile::write("{$dir}/sub/c.yaml", "a: 2\n");
        self::assertSame("a: 2\n", file_get_contents("{$dir}/sub/c.yaml"));
        self::assertSame(0600, fileperms("{$dir}/sub/c.yaml") & 0777);
        self::assertSame(['c.yaml'], array_values(array_diff(scandir("{$dir}/sub"), ['.', '..'])));
    }

    // ---------------------------------------------------------------- supervisor

    /**
     * @return array{ChildSupervisor, PidFile, \ArrayObject}
     */
    private function supervisor(string $dir, string $body, ?\Closure $keepRunning = null, array $delays = [1, 2, 5]): array
    {
        $launcher = Support::script("{$dir}/bin/conflink-worker", $body);
        $pf       = new PidFile("{$dir}/run/conflink-worker.pid");
        $log      = new \ArrayObject();
        $sup      = new ChildSupervisor(
            [$launcher, '--config', "{$dir}/c.yaml"],
            $pf,
            new BackoffSchedule($delays, 60.0),
            "{$dir}/log/stderr.log",
            $keepRunning,
            function (string $m, bool $e) use ($log): void {
                $log[] = [$m, $e];
            },
            0.0,
            2.0
        );
        return [$sup, $pf, $log];
    }

    public function testRestartsADyingChildWithBackoff(): void
    {
        $dir = Support::tempDir('sup');
        [$sup, $pf, $log] = $this->supervisor($dir, "echo started \"\$@\" >&2\nexit 3");
        $t = 1000.0;
        self::assertTrue($sup->tick($t));
        self::assertSame(1, $sup->starts());
        $pid = $sup->childPid();
        $this->spawned[] = $pid;
        self::assertGreaterThan(0, $pid);
        self::assertSame($pid, $pf->read());
        self::assertTrue(Support::waitFor(static fn (): bool => !PidFile::isAlive($pid), 3.0));
        usleep(50000);

        self::assertTrue($sup->tick($t + 0.5));       // notices the death
        self::assertNull($pf->read(), 'PID file removed when the child dies');
        self::assertEqualsWithDelta(1.0, $sup->secondsUntilNextStart($t + 0.5), 1e-9);
        self::assertTrue($sup->tick($t + 1.0));       // too early
        self::assertSame(1, $sup->starts());
        self::assertTrue($sup->tick($t + 1.5));       // due: second start
        self::assertSame(2, $sup->starts());
        $this->spawned[] = $sup->childPid();
        usleep(300000);
        self::assertTrue($sup->tick($t + 2.0));
        self::assertEqualsWithDelta(2.0, $sup->secondsUntilNextStart($t + 2.0), 1e-9, 'second failure waits longer');
        $stderr = file_get_contents("{$dir}/log/stderr.log");
        self::assertStringContainsString("started --config {$dir}/c.yaml", $stderr);
        $messages = implode("\n", array_column($log->getArrayCopy(), 0));
        self::assertStringContainsString('worker ended (exit code 3)', $messages);
        $sup->stopChild();
    }

    public function testStopRequestStopsTheChild(): void
    {
        $dir = Support::tempDir('sup');
        [$sup, $pf] = $this->supervisor($dir, 'exec ' . self::sleeper($dir) . ' 30');
        self::assertTrue($sup->tick(1.0));
        $pid = $sup->childPid();
        $this->spawned[] = $pid;
        self::assertTrue(PidFile::isAlive($pid));
        $sup->requestStop();
        self::assertFalse($sup->tick(2.0));
        $sup->stopChild();
        self::assertFalse(PidFile::isAlive($pid));
        self::assertNull($pf->read());
    }

    public function testStopSignalSaysWhetherCallsStayUp(): void
    {
        foreach ([[false, 'TERM'], [true, 'USR1']] as [$keepCalls, $expected]) {
            $dir  = Support::tempDir('sup');
            $seen = "{$dir}/signal";
            $body = "trap 'echo TERM > {$seen}; exit 0' TERM\ntrap 'echo USR1 > {$seen}; exit 0' USR1\n"
                . "while :; do sleep 0.05; done";
            [$sup] = $this->supervisor($dir, $body);
            self::assertTrue($sup->tick(1.0));
            $this->spawned[] = $sup->childPid();
            usleep(200000);
            $sup->requestStop($keepCalls);
            self::assertFalse($sup->tick(2.0));
            $sup->stopChild();
            self::assertSame($expected, trim((string)@file_get_contents($seen)), 'keepCalls=' . var_export($keepCalls, true));
        }
    }

    public function testRunEndsWhenTheModuleIsDisabled(): void
    {
        $dir     = Support::tempDir('sup');
        $enabled = true;
        $marker  = "{$dir}/started";
        [$sup, $pf] = $this->supervisor($dir, "touch {$marker}\nexec sleep 30", function () use (&$enabled, $marker): bool {
            // Disable the module once the child is up.
            if (is_file($marker)) {
                $enabled = false;
            }
            return $enabled;
        });
        $t0 = microtime(true);
        $sup->run(0.05);
        self::assertLessThan(5.0, microtime(true) - $t0);
        self::assertFileExists($marker);
        self::assertSame(0, $sup->childPid());
        self::assertNull($pf->read());
        self::assertSame(1, $sup->starts());
    }

    public function testRunStopsAStrayWorkerBeforeStarting(): void
    {
        $dir   = Support::tempDir('sup');
        $stray = $this->spawnMarked($dir, 'conflink-stray');
        $pf    = new PidFile("{$dir}/run/conflink-worker.pid");
        $pf->write($stray);
        self::assertSame($stray, $pf->runningPid());
        $calls = 0;
        [$sup] = $this->supervisor($dir, 'exec sleep 30', function () use (&$calls): bool {
            return ++$calls < 2;
        });
        $sup->run(0.05);
        self::assertFalse(PidFile::isAlive($stray), 'the leftover worker was stopped');
    }

    public function testHandOverLeavesTheWorkerForTheNextWrapperWhichStopsItWithSigusr1(): void
    {
        $dir  = Support::tempDir('sup');
        $seen = "{$dir}/signals";
        // A worker that records the signal it stops on (the real one keeps its calls on USR1).
        $body = "trap 'echo TERM >> {$seen}; exit 0' TERM\ntrap 'echo USR1 >> {$seen}; exit 0' USR1\n"
            . "echo \$\$ > {$dir}/started.\$\$\nwhile :; do sleep 0.05; done";
        // Wrapper A: SIGUSR1 (core's soft restart) arrives once its worker is up.
        [$a, $pf] = $this->supervisor($dir, $body, function () use (&$a, $dir): bool {
            if (glob("{$dir}/started.*") !== []) {
                $a->handOver();
            }
            return true;
        });
        $t0 = microtime(true);
        $a->run(0.05);
        $old = $pf->runningPid();
        self::assertNotNull($old, 'the handed-over worker is still running, PID file kept');
        $this->spawned[] = $old;
        self::assertLessThan(2.0, microtime(true) - $t0, 'wrapper A did not return at once');
        usleep(200000);
        self::assertTrue(PidFile::isAlive($old), 'wrapper A stopped its worker');
        self::assertFileDoesNotExist($seen);

        // Wrapper B (core starts it once A is gone): stops A's worker with USR1, starts its own.
        [$b] = $this->supervisor($dir, $body, static function () use ($dir): bool {
            return count(glob("{$dir}/started.*")) < 2;
        });
        $b->run(0.05);
        self::assertFalse(PidFile::isAlive($old));
        self::assertCount(2, glob("{$dir}/started.*"), 'wrapper B started a worker of its own');
        // A's worker got USR1 (calls kept), B's own final stop was TERM (calls hung up).
        self::assertSame("USR1\nTERM\n", (string)file_get_contents($seen));
    }

    public function testSignalsAreForwardedToTheChild(): void
    {
        $dir  = Support::tempDir('sup');
        $got  = "{$dir}/got-usr1";
        [$sup] = $this->supervisor($dir, "trap 'touch {$got}' USR1\necho ready > {$dir}/ready\nwhile :; do sleep 0.05; done");
        self::assertFalse($sup->signalChild(SIGUSR1), 'no child yet');
        $sup->tick(1.0);
        $this->spawned[] = $sup->childPid();
        self::assertTrue(Support::waitFor(static fn (): bool => is_file("{$dir}/ready"), 3.0));
        self::assertTrue($sup->signalChild(SIGUSR1));
        self::assertTrue(Support::waitFor(static fn (): bool => is_file($got), 3.0));
        $sup->stopChild();
    }

    public function testMissingLauncherIsReportedAndRetried(): void
    {
        $dir = Support::tempDir('sup');
        $log = [];
        $sup = new ChildSupervisor(
            ["{$dir}/bin/conflink-worker"],
            new PidFile("{$dir}/w.pid"),
            new BackoffSchedule([1], 60.0),
            "{$dir}/stderr.log",
            null,
            function (string $m, bool $e) use (&$log): void {
                $log[] = [$m, $e];
            },
            0.0
        );
        $sup->tick(1.0);
        if ($sup->childPid() > 0) {
            $this->spawned[] = $sup->childPid();
        }
        usleep(200000);
        $sup->tick(1.2);
        self::assertEqualsWithDelta(1.0, $sup->secondsUntilNextStart(1.2), 1e-9);
        self::assertContains(["worker launcher is missing or not executable: {$dir}/bin/conflink-worker", true], $log);
        $sup->stopChild();
    }
}
