<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\PidFile;
use Modules\ModuleConferenceLink\Lib\Uninstall;
use Modules\ModuleConferenceLink\Lib\WorkerStop;
use PHPUnit\Framework\TestCase;

/**
 * What an uninstall removes (Lib/Uninstall) and the synchronous stop by PID files (Lib/WorkerStop),
 * with real folders and processes. Core's installer paths run in tests/mikopbx/test_install.py.
 */
final class UninstallTest extends TestCase
{
    protected function tearDown(): void
    {
        Support::removeAll();
    }

    public function testSettingsKeptKeepsOnlyTheLogFolder(): void
    {
        $paths = new ModulePaths('/m', '/etc/custom_modules/X', '/var/run/custom_modules/X', '/log/X');
        self::assertSame(['/etc/custom_modules/X', '/var/run/custom_modules/X', '/log/X'], Uninstall::foldersToRemove($paths, false));
        self::assertSame(['/etc/custom_modules/X', '/var/run/custom_modules/X'], Uninstall::foldersToRemove($paths, true));
    }

    public function testRemoveTreeRemovesLinksWithoutFollowingThem(): void
    {
        $dir = Support::tempDir('uninstall');
        mkdir("{$dir}/outside");
        file_put_contents("{$dir}/outside/keep", 'x');
        mkdir("{$dir}/tree/sub", 0755, true);
        file_put_contents("{$dir}/tree/sub/file", 'x');
        symlink("{$dir}/outside", "{$dir}/tree/link");
        Uninstall::removeTree("{$dir}/tree");
        self::assertDirectoryDoesNotExist("{$dir}/tree");
        self::assertFileExists("{$dir}/outside/keep", 'a symlinked folder was emptied');
        Uninstall::removeTree("{$dir}/missing");  // nothing there: no error
    }

    public function testCoreLinksAreTheAssetAndViewLinksOfTheModule(): void
    {
        self::assertSame([
            '/core/sites/admin-cabinet/assets/img/cache/X',
            '/core/sites/admin-cabinet/assets/css/cache/X',
            '/core/sites/admin-cabinet/assets/js/cache/X',
            '/core/src/AdminCabinet/Views/Modules/X',
        ], Uninstall::coreLinks('/core/', 'X'));
    }

    public function testStopAllEndsWrapperAndWorkerBeforeItReturns(): void
    {
        $dir   = Support::tempDir('stopall');
        $paths = new ModulePaths("{$dir}/m", "{$dir}/etc", "{$dir}/run", "{$dir}/log");
        // Stand-ins named as the real processes' command lines are (the PID files check them).
        $wrapper = Support::script("{$dir}/WorkerConferenceLinkPy", "trap 'exit 0' TERM\nwhile :; do sleep 0.05; done");
        $worker  = Support::script("{$dir}/conflink-worker", "trap 'exit 0' TERM\nwhile :; do sleep 0.05; done");
        $procs   = [];
        foreach ([[$wrapper, $paths->wrapperPidFile(), WorkerStop::WRAPPER_MARKER], [$worker, $paths->pidFile(), 'conflink']] as [$cmd, $file, $marker]) {
            $p = proc_open([$cmd], [], $pipes);
            self::assertIsResource($p);
            $pid = proc_get_status($p)['pid'];
            (new PidFile($file, $marker))->write($pid);
            $procs[] = [$p, $pid];
        }
        WorkerStop::stopAll($paths);
        foreach ($procs as [$p, $pid]) {
            self::assertFalse(PidFile::isAlive($pid), "pid {$pid} still running after stopAll()");
            proc_close($p);
        }
        self::assertFileDoesNotExist($paths->wrapperPidFile());
        self::assertFileDoesNotExist($paths->pidFile());
    }
}
