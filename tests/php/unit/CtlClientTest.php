<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\CtlClient;
use Modules\ModuleConferenceLink\Lib\CtlResult;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\RestActions;
use PHPUnit\Framework\TestCase;

/**
 * conflink-ctl is run for real; here it is a small sh script that records its arguments and
 * answers the way the real one does (the real one is covered by the worker's own tests and e2e).
 */
final class CtlClientTest extends TestCase
{
    private string $dir;
    private ModulePaths $paths;

    protected function setUp(): void
    {
        $this->dir   = Support::tempDir('ctl');
        $this->paths = new ModulePaths($this->dir, "{$this->dir}/etc", "{$this->dir}/run", "{$this->dir}/log");
    }

    protected function tearDown(): void
    {
        Support::removeAll();
    }

    private function fakeCtl(string $stdout, int $exit, string $stderr = '', string $extra = ''): void
    {
        $body = 'printf "%s\n" "$@" > ' . escapeshellarg("{$this->dir}/args") . "\n" . $extra
            . 'printf %s ' . escapeshellarg($stdout) . "\n"
            . 'printf %s ' . escapeshellarg($stderr) . " >&2\n"
            . "exit {$exit}";
        Support::script("{$this->dir}/bin/conflink-ctl", $body);
    }

    private function args(): array
    {
        return explode("\n", rtrim((string)file_get_contents("{$this->dir}/args"), "\n"));
    }

    public function testStatusJson(): void
    {
        $reply = ['ok' => true, 'ami' => ['connected' => true], 'links' => [['id' => '7', 'state' => 'connected']]];
        $this->fakeCtl(json_encode($reply, JSON_PRETTY_PRINT) . "\n", 0);
        $r = (new CtlClient($this->paths))->status();
        self::assertTrue($r->ok);
        self::assertSame($reply, $r->reply);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'status', '--json'], $this->args());
    }

    public function testOkLineWithDetailsAndNotes(): void
    {
        $this->fakeCtl("ok {\"link\": \"7\", \"state\": \"dialing\", \"notes\": [\"x}\"]}\nnote: x}\n", 0);
        $r = (new CtlClient($this->paths))->dial('7', true);
        self::assertTrue($r->ok);
        self::assertSame(['ok' => true, 'link' => '7', 'state' => 'dialing', 'notes' => ['x}']], $r->reply);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '7', '--force'], $this->args());
    }

    public function testRefusal(): void
    {
        $this->fakeCtl("error: link 9: no such link\n", 1);
        $r = (new CtlClient($this->paths))->hangup('9');
        self::assertFalse($r->ok);
        self::assertSame(1, $r->exitCode);
        self::assertSame('link 9: no such link', $r->error);
        self::assertSame(['ok' => false, 'error' => 'link 9: no such link'], $r->reply);
    }

    public function testWorkerNotRunning(): void
    {
        $this->fakeCtl('', 3, "conflink-ctl: no answer from tcp://127.0.0.1:7391 within 3 s\n");
        $r = (new CtlClient($this->paths))->ping();
        self::assertFalse($r->ok);
        self::assertSame(3, $r->exitCode);
        self::assertStringContainsString('no answer', $r->error);
    }

    public function testOkTextButNonZeroExitIsNotOk(): void
    {
        $this->fakeCtl("ok\n", 1);
        $r = (new CtlClient($this->paths))->ping();
        self::assertFalse($r->ok);
        self::assertFalse($r->reply['ok']);
    }

    public function testHangingCtlIsKilled(): void
    {
        $this->fakeCtl('', 0, '', "sleep 30\n");
        $t0 = microtime(true);
        $r  = (new CtlClient($this->paths, 0.5))->status();
        self::assertLessThan(3.0, microtime(true) - $t0);
        self::assertFalse($r->ok);
        self::assertStringContainsString('did not finish', $r->error);
    }

    public function testMissingCtl(): void
    {
        $r = (new CtlClient($this->paths))->status();
        self::assertFalse($r->ok);
        self::assertSame(CtlResult::EXIT_LOCAL, $r->exitCode);
        self::assertStringContainsString('conflink-ctl is missing', $r->error);
    }

    public function testBadLinkIdNeverReachesTheCommandLine(): void
    {
        $this->fakeCtl("ok\n", 0);
        foreach (['', '7;id', '--force', '-h', str_repeat('1', 33), "7\n8", '../x'] as $bad) {
            $r = (new CtlClient($this->paths))->dial($bad);
            self::assertFalse($r->ok, json_encode($bad));
            self::assertStringContainsString('link:', $r->error);
        }
        self::assertFileDoesNotExist("{$this->dir}/args");
    }

    public function testRestActions(): void
    {
        $this->fakeCtl("ok {\"state\": \"idle\"}\n", 0);
        $rest = new RestActions(new CtlClient($this->paths));
        self::assertSame(['success' => true, 'data' => ['ok' => true, 'state' => 'idle'], 'error' => ''], $rest->handle('hangup', ['link' => 7]));
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'hangup', '7'], $this->args());

        $rest->handle('dial', ['id' => '3', 'force' => 'true']);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '3', '--force'], $this->args());
        $rest->handle('dial', ['link' => '3']);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '3'], $this->args());

        $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => '30']);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '3', '--force', '--seconds', '30'], $this->args());
        $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => 600]);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '3', '--force', '--seconds', '600'], $this->args());
        $rest->handle('dial', ['id' => '3', 'force' => true, 'seconds' => 2.5]);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '3', '--force', '--seconds', '2.5'], $this->args(), 'JSON body numbers');
        $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => 600]);
        foreach (['0', '-5', '86401', '1e3', 'x', '--help', ['5'], 0.0, -1.5, 86400.5, INF, NAN] as $bad) {
            $r = $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => $bad]);
            self::assertFalse($r['success'], var_export($bad, true));
            self::assertStringStartsWith('seconds:', $r['error']);
        }
        self::assertStringStartsWith('force:', $rest->handle('dial', ['id' => '3', 'force' => 'maybe'])['error']);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '3', '--force', '--seconds', '600'], $this->args(), 'refused requests never ran ctl');

        $missing = $rest->handle('dial', []);
        self::assertFalse($missing['success']);
        self::assertStringContainsString('link: required', $missing['error']);
        $unknown = $rest->handle('reboot', []);
        self::assertFalse($unknown['success']);
        self::assertStringContainsString('action: unknown "reboot"', $unknown['error']);
    }
}
