<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\CtlClient;
use Modules\ModuleConferenceLink\Lib\CtlResult;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
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
        $r = (new CtlClient($this->paths))->run(['status', '--json']);
        self::assertTrue($r->ok);
        self::assertSame($reply, $r->reply);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'status', '--json'], $this->args());
    }

    public function testOkLineWithDetailsAndNotes(): void
    {
        $this->fakeCtl("ok {\"link\": \"7\", \"state\": \"dialing\", \"notes\": [\"x}\"]}\nnote: x}\n", 0);
        $r = (new CtlClient($this->paths))->run(['dial', '7', '--force']);
        self::assertTrue($r->ok);
        self::assertSame(['ok' => true, 'link' => '7', 'state' => 'dialing', 'notes' => ['x}']], $r->reply);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'dial', '7', '--force'], $this->args());
    }

    public function testRefusal(): void
    {
        $this->fakeCtl("error: link 9: no such link\n", 1);
        $r = (new CtlClient($this->paths))->run(['hangup', '9']);
        self::assertFalse($r->ok);
        self::assertSame(1, $r->exitCode);
        self::assertSame('link 9: no such link', $r->error);
        self::assertSame(['ok' => false, 'error' => 'link 9: no such link'], $r->reply);
    }

    public function testWorkerNotRunning(): void
    {
        $this->fakeCtl('', 3, "conflink-ctl: no answer from tcp://127.0.0.1:7391 within 3 s\n");
        $r = (new CtlClient($this->paths))->run(['ping']);
        self::assertFalse($r->ok);
        self::assertSame(3, $r->exitCode);
        self::assertStringContainsString('no answer', $r->error);
    }

    public function testOkTextButNonZeroExitIsNotOk(): void
    {
        $this->fakeCtl("ok\n", 1);
        $r = (new CtlClient($this->paths))->run(['ping']);
        self::assertFalse($r->ok);
        self::assertFalse($r->reply['ok']);
    }

    public function testHangingCtlIsKilled(): void
    {
        $this->fakeCtl('', 0, '', "sleep 30\n");
        $t0 = microtime(true);
        $r  = (new CtlClient($this->paths, 0.5))->run(['status', '--json']);
        self::assertLessThan(3.0, microtime(true) - $t0);
        self::assertFalse($r->ok);
        self::assertStringContainsString('did not finish', $r->error);
    }

    public function testMissingCtl(): void
    {
        $r = (new CtlClient($this->paths))->run(['status', '--json']);
        self::assertFalse($r->ok);
        self::assertSame(CtlResult::EXIT_LOCAL, $r->exitCode);
        self::assertStringContainsString('conflink-ctl is missing', $r->error);
    }

    public function testPushConfig(): void
    {
        $this->fakeCtl("ok {\"notes\": []}\n", 0);
        $r = (new CtlClient($this->paths))->pushConfig("{$this->dir}/new.yaml");
        self::assertTrue($r->ok);
        self::assertSame(['--config', "{$this->dir}/etc/conflink.yaml", 'push-config', "{$this->dir}/new.yaml"], $this->args());
    }
}
