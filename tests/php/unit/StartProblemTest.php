<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\AtomicFile;
use Modules\ModuleConferenceLink\Lib\BackoffSchedule;
use Modules\ModuleConferenceLink\Lib\ChildSupervisor;
use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\PidFile;
use Modules\ModuleConferenceLink\Lib\RestActions;
use Modules\ModuleConferenceLink\Lib\StartProblem;
use Modules\ModuleConferenceLink\Lib\WorkerClient;
use Modules\ModuleConferenceLink\Lib\WorkerCommand;
use PHPUnit\Framework\TestCase;

/**
 * A worker that cannot start says why: the real supervisor runs the real bin/conflink-worker
 * with a broken python3 (CONFLINK_PYTHON): one whose bundled libzmq cannot load
 * (ImportError naming libstdc++), one missing a standard module, and none at all. Each attempt
 * is logged once in the self-check's own words, starts follow the back-off (no spinning), and
 * the status the pages poll carries those words instead of "the worker does not answer".
 */
final class StartProblemTest extends TestCase
{
    private string|false $oldPython = false;
    private ?ChildSupervisor $sup = null;
    /** The working interpreter, taken before a test replaces CONFLINK_PYTHON. */
    private static string $python = '';

    protected function setUp(): void
    {
        $this->oldPython = getenv('CONFLINK_PYTHON');
        self::$python    = WorkerClientTest::python();
    }

    protected function tearDown(): void
    {
        $this->sup?->stopChild();
        putenv($this->oldPython === false ? 'CONFLINK_PYTHON' : "CONFLINK_PYTHON={$this->oldPython}");
        Support::removeAll();
    }

    /** @return array{ModulePaths, \ArrayObject<int, array{string, bool}>} */
    private function supervise(string $dir, float $startWindow = ChildSupervisor::START_WINDOW): array
    {
        $paths    = new ModulePaths(dirname(__DIR__, 3), "{$dir}/etc", "{$dir}/run", "{$dir}/log");
        $settings = ['ami_port' => (string)Support::freePort(), 'ami_username' => 'u', 'ami_secret' => 'secret12345',
            'control_endpoint' => 'tcp://127.0.0.1:' . Support::freePort(), 'control_token' => 'tok-' . bin2hex(random_bytes(4))];
        AtomicFile::write($paths->configFile(), (new ConfigRenderer())->render([], [], [], $settings)->yaml);
        $log       = new \ArrayObject();
        $this->sup = new ChildSupervisor(
            WorkerCommand::worker($paths),
            new PidFile($paths->pidFile()),
            new BackoffSchedule([0.4, 0.8, 1.6]),
            $paths->workerStderrLog(),
            null,
            static function (string $m, bool $e) use ($log): void {
                $log[] = [$m, $e];
            },
            startProblem: new StartProblem($paths->startProblemFile()),
            startWindow: $startWindow,
        );
        return [$paths, $log];
    }

    private function tickFor(float $seconds): void
    {
        $end = microtime(true) + $seconds;
        while (microtime(true) < $end) {
            $this->sup->tick(microtime(true));
            usleep(20000);
        }
    }

    /** A python3 that runs the real interpreter with a module shadowed by one that fails. */
    private static function brokenPython(string $dir, string $module, string $raise): string
    {
        $real = self::$python;
        $path = "{$dir}/shadow/" . str_replace('.', '/', $module);
        mkdir($path, 0755, true);
        file_put_contents("{$path}/__init__.py", $raise . "\n");
        return Support::script("{$dir}/bin/python3", 'PYTHONPATH=' . escapeshellarg("{$dir}/shadow") . '${PYTHONPATH:+:$PYTHONPATH} exec ' . escapeshellarg($real) . ' "$@"');
    }

    public function testNativeModuleThatCannotLoadIsNamedOncePerAttemptWithBackoff(): void
    {
        $dir = Support::tempDir('start');
        putenv('CONFLINK_PYTHON=' . self::brokenPython($dir, 'zmq', 'raise ImportError("libstdc++.so.6: cannot open shared object file: No such file or directory")'));
        [$paths, $log] = $this->supervise($dir, 3.0);
        $this->tickFor(3.0);

        $starts = $this->sup->starts();
        // 0 s, then 0.4 / 0.8 / 1.6 s after each failure (plus interpreter start-up): never a busy loop.
        self::assertGreaterThanOrEqual(2, $starts);
        self::assertLessThanOrEqual(4, $starts);
        $failures = array_values(array_filter($log->getArrayCopy(), static fn (array $l): bool => $l[1]));
        $ended    = array_filter($failures, static fn (array $l): bool => str_contains($l[0], 'without starting'));
        self::assertGreaterThanOrEqual($starts - 1, count($ended), 'every ended attempt is logged');
        self::assertLessThanOrEqual($starts, count($ended), 'once per attempt, not more');
        self::assertCount(count($ended), $failures, 'nothing else is logged as an error');
        foreach ($ended as [$line]) {
            self::assertStringContainsString('conflink self-check: FAILED', $line);
            self::assertStringContainsString('zmq (pyzmq, bundled in', $line);
            self::assertStringContainsString('ImportError: libstdc++.so.6: cannot open shared object file', $line);
        }

        $status = (new RestActions(new WorkerClient($paths)))->handle('getStatus', []);
        self::assertFalse($status['success']);
        self::assertSame(200, $status['httpCode']);
        self::assertStringStartsWith('conflink-worker cannot start: conflink self-check: FAILED', $status['error']);
        self::assertStringContainsString('libstdc++.so.6', $status['data']['start_problem']);
        self::assertStringContainsString('reinstall the module zip', $status['data']['start_problem'], 'the fix travels too');

        // Repaired (the real interpreter): the worker comes up, and once it stayed up the
        // recorded problem is gone.
        putenv('CONFLINK_PYTHON=' . self::$python);
        $worker = new WorkerClient($paths);
        self::assertTrue(Support::waitFor(function () use ($worker): bool {
            $this->sup->tick(microtime(true));
            return $worker->ping()->ok;
        }, 20.0), implode("\n", array_column($log->getArrayCopy(), 0)) . "\n" . substr((string)@file_get_contents($paths->workerStderrLog()), -1500));
        self::assertTrue(Support::waitFor(function () use ($paths): bool {
            $this->sup->tick(microtime(true));
            return !is_file($paths->startProblemFile());
        }, 10.0), 'problem cleared after the worker stayed up');
    }

    public function testMissingStandardModuleAndMissingInterpreter(): void
    {
        $dir = Support::tempDir('start');
        putenv('CONFLINK_PYTHON=' . self::brokenPython($dir, 'secrets', 'raise ModuleNotFoundError("No module named \'_random\'", name="_random")'));
        [$paths] = $this->supervise($dir);
        // Until the failed self-check is recorded: its interpreter start is slow on a loaded machine.
        $recorded = new StartProblem($paths->startProblemFile());
        self::assertTrue(Support::waitFor(function () use ($recorded): bool {
            $this->sup->tick(microtime(true));
            return $recorded->read() !== null;
        }, 15.0), 'the failed start is recorded');
        $problem = $recorded->read();
        self::assertNotNull($problem);
        self::assertStringContainsString("_random (Python standard library, needed by secrets): ModuleNotFoundError: No module named '_random'", $problem);
        $this->sup->stopChild();

        $dir2 = Support::tempDir('start');
        putenv("CONFLINK_PYTHON={$dir2}/no/python3");
        [$paths2, $log2] = $this->supervise($dir2);
        self::assertTrue(Support::waitFor(function () use ($log2): bool {
            $this->sup->tick(microtime(true));
            return str_contains(implode("\n", array_column($log2->getArrayCopy(), 0)), 'without starting');
        }, 15.0), 'the failed start is logged');
        $error = (new WorkerClient($paths2))->status()->error;
        self::assertStringStartsWith('conflink-worker cannot start: ', $error);
        self::assertStringContainsString("{$dir2}/no/python3", $error, 'the launcher names the interpreter it could not run');
        self::assertStringContainsString('not found', $error);
        self::assertStringContainsString('without starting', implode("\n", array_column($log2->getArrayCopy(), 0)));
    }
}
