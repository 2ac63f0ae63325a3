<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\AtomicFile;
use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use Modules\ModuleConferenceLink\Lib\ControlSettings;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\RestActions;
use Modules\ModuleConferenceLink\Lib\StartProblem;
use Modules\ModuleConferenceLink\Lib\WorkerClient;
use Modules\ModuleConferenceLink\Lib\ZmtpClient;
use Modules\ModuleConferenceLink\Lib\ZmtpError;
use PHPUnit\Framework\TestCase;

/**
 * WorkerClient / ZmtpClient (PHP speaking ZeroMQ) against a ROUTER socket on real pyzmq
 * (tests/php/fixtures/fake_worker.py records each request and answers a canned reply), plus
 * the failures that must be fast and clear: nothing listening, a peer that never answers, a
 * peer that is not ZeroMQ. The real worker is in RealWorkerTest.
 */
final class WorkerClientTest extends TestCase
{
    private string $dir;
    private ModulePaths $paths;
    /** @var list<resource> */
    private array $procs = [];

    protected function setUp(): void
    {
        $this->dir   = Support::tempDir('zmtp');
        $this->paths = new ModulePaths($this->dir, "{$this->dir}/etc", "{$this->dir}/run", "{$this->dir}/log");
    }

    protected function tearDown(): void
    {
        foreach ($this->procs as $proc) {
            $pid = proc_get_status($proc)['pid'];
            posix_kill($pid, SIGKILL);
            proc_close($proc);
        }
        Support::removeAll();
    }

    public static function python(): string
    {
        $py = getenv('CONFLINK_PYTHON') ?: dirname(__DIR__, 3) . '/.venv/bin/python';
        self::assertFileExists($py, 'no Python with pyzmq (CONFLINK_PYTHON or .venv: run make deps)');
        return $py;
    }

    /** Config file naming the endpoint and token, as ConfigRenderer writes it. */
    private function writeConfig(string $endpoint, string $token): void
    {
        $settings = ['ami_username' => 'u', 'ami_secret' => 'secret12345', 'control_endpoint' => $endpoint, 'control_token' => $token];
        AtomicFile::write($this->paths->configFile(), (new ConfigRenderer())->render([], [], [], $settings)->yaml);
    }

    /** Starts the fake worker; returns its endpoint. */
    private function fakeWorker(array $reply, string $token = 'tok-123', ?string $endpoint = null): string
    {
        $endpoint ??= 'tcp://127.0.0.1:' . Support::freePort();
        file_put_contents("{$this->dir}/reply.json", json_encode($reply));
        $proc = proc_open(
            [self::python(), dirname(__DIR__) . '/fixtures/fake_worker.py', '--endpoint', $endpoint,
             '--reply', "{$this->dir}/reply.json", '--record', "{$this->dir}/requests"],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', "{$this->dir}/fake.err", 'w']],
            $pipes
        );
        self::assertIsResource($proc);
        $this->procs[] = $proc;
        self::assertSame("ready\n", fgets($pipes[1]), (string)@file_get_contents("{$this->dir}/fake.err"));
        $this->writeConfig($endpoint, $token);
        return $endpoint;
    }

    /** @return list<array<string, mixed>> */
    private function requests(): array
    {
        $lines = array_filter(explode("\n", (string)@file_get_contents("{$this->dir}/requests")));
        return array_values(array_map(static fn (string $l): array => json_decode($l, true, 512, JSON_THROW_ON_ERROR), $lines));
    }

    public function testRequestsCarryTheTokenAndRepliesAreDecoded(): void
    {
        $reply = ['ok' => true, 'ami' => ['connected' => true], 'links' => [['id' => '7', 'room' => '0354233', 'state' => 'connected']]];
        $this->fakeWorker($reply, 'tok"quoted"\\x');
        $r = (new WorkerClient($this->paths))->status();
        self::assertTrue($r->ok, $r->error);
        self::assertSame(0, $r->exitCode);
        self::assertSame($reply, $r->reply);
        self::assertSame([['cmd' => 'status', 'token' => 'tok"quoted"\\x']], $this->requests());
    }

    public function testRestActionsSendExactlyTheControlRequests(): void
    {
        $this->fakeWorker(['ok' => true, 'state' => 'idle']);
        $rest = new RestActions(new WorkerClient($this->paths));
        self::assertSame(
            ['success' => true, 'data' => ['ok' => true, 'state' => 'idle'], 'error' => '', 'httpCode' => 200],
            $rest->handle('hangup', ['id' => 7])
        );
        $rest->handle('dial', ['id' => '3', 'force' => 'true']);
        $rest->handle('dial', ['id' => '3']);
        $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => '30']);
        $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => 600]);
        $rest->handle('dial', ['id' => '3', 'force' => true, 'seconds' => 2.5]);
        $rest->handle('ping', []);
        foreach (['0', '0.5', '-5', '3601', '3600.5', '1e3', 'x', '--help', ['5'], 0.0, -1.5, 86400.5, INF, NAN] as $bad) {
            $r = $rest->handle('dial', ['id' => '3', 'force' => '1', 'seconds' => $bad]);
            self::assertFalse($r['success'], var_export($bad, true));
            self::assertSame(400, $r['httpCode']);
            self::assertStringStartsWith('seconds:', $r['error']);
        }
        self::assertStringStartsWith('force:', $rest->handle('dial', ['id' => '3', 'force' => 'maybe'])['error']);
        foreach (['', '7;id', str_repeat('1', 33), "7\n8", '../x', null, ['7']] as $bad) {
            $r = $rest->handle('hangup', ['id' => $bad]);
            self::assertFalse($r['success']);
            self::assertStringContainsString('id: required', $r['error']);
        }
        self::assertStringContainsString('action: unknown "reboot"', $rest->handle('reboot', [])['error']);

        $t = 'tok-123';
        self::assertSame([
            ['cmd' => 'hangup', 'link' => '7', 'token' => $t],
            ['cmd' => 'dial', 'link' => '3', 'force' => true, 'token' => $t],
            ['cmd' => 'dial', 'link' => '3', 'force' => false, 'token' => $t],
            ['cmd' => 'dial', 'link' => '3', 'force' => true, 'seconds' => 30.0, 'token' => $t],
            ['cmd' => 'dial', 'link' => '3', 'force' => true, 'seconds' => 600.0, 'token' => $t],
            ['cmd' => 'dial', 'link' => '3', 'force' => true, 'seconds' => 2.5, 'token' => $t],
            ['cmd' => 'ping', 'token' => $t],
        ], $this->requests(), 'refused input never reached the worker');
        self::assertIsFloat($this->requests()[3]['seconds'], 'seconds travel as a JSON number');
    }

    public function testRoomControlsSendExactlyTheControlRequests(): void
    {
        $this->fakeWorker(['ok' => true, 'message' => 'muting']);
        $rest = new RestActions(new WorkerClient($this->paths));
        self::assertSame(
            ['success' => true, 'data' => ['ok' => true, 'message' => 'muting'], 'error' => '', 'httpCode' => 200],
            $rest->handle('mute', ['id' => '7'])
        );
        $rest->handle('unmute', ['id' => 7]);
        $rest->handle('dtmf', ['id' => '7', 'digits' => '*6']);
        $rest->handle('dtmf', ['id' => '7', 'digits' => 123]);
        $rest->handle('dtmf', ['id' => '7', 'digits' => '0123456789*#ABCD']);
        foreach (['', '1w', 'p', '1,2', '*6;', "1\n2", str_repeat('1', 33), 'abcd', null, ['1'], 1.5, -1, true] as $bad) {
            $r = $rest->handle('dtmf', ['id' => '7', 'digits' => $bad]);
            self::assertFalse($r['success'], var_export($bad, true));
            self::assertSame(400, $r['httpCode']);
            self::assertSame(WorkerClient::DIGITS_ERROR, $r['error']);
        }
        self::assertStringContainsString('id: required', $rest->handle('mute', ['id' => '7;x'])['error']);
        $t = 'tok-123';
        self::assertSame([
            ['cmd' => 'mute', 'link' => '7', 'token' => $t],
            ['cmd' => 'unmute', 'link' => '7', 'token' => $t],
            ['cmd' => 'dtmf', 'link' => '7', 'digits' => '*6', 'token' => $t],
            ['cmd' => 'dtmf', 'link' => '7', 'digits' => '123', 'token' => $t],
            ['cmd' => 'dtmf', 'link' => '7', 'digits' => '0123456789*#ABCD', 'token' => $t],
        ], $this->requests(), 'refused input never reached the worker');

        file_put_contents("{$this->dir}/reply.json", '{"ok": false, "error": "no live external call in the room"}');
        $r = $rest->handle('dtmf', ['id' => '7', 'digits' => '1']);
        self::assertSame(422, $r['httpCode']);
        self::assertSame('no live external call in the room', $r['error']);
    }

    public function testStatusIsNormalisedForThePagesAndRefusalsKeepTheWorkersWords(): void
    {
        $this->fakeWorker(['ok' => true, 'ami' => ['connected' => false], 'links' => [['id' => '7', 'state' => 'backoff', 'attempt_log' => [['result' => 'busy']]]]]);
        $status = (new RestActions(new WorkerClient($this->paths)))->handle('getStatus', []);
        self::assertTrue($status['success']);
        self::assertFalse($status['data']['ami_connected']);
        self::assertSame('backoff', $status['data']['links']['7']['state']);
        self::assertSame('busy', $status['data']['links']['7']['log'][0]['result']);

        file_put_contents("{$this->dir}/reply.json", '{"ok": false, "error": "link: no link with id \'9\'"}');
        $r = (new RestActions(new WorkerClient($this->paths)))->handle('hangup', ['id' => '9']);
        self::assertSame(['success' => false, 'data' => ['ok' => false, 'error' => "link: no link with id '9'"], 'error' => "link: no link with id '9'", 'httpCode' => 422], $r);

        file_put_contents("{$this->dir}/reply.json", '[1, 2]');
        $odd = (new WorkerClient($this->paths))->ping();
        self::assertFalse($odd->ok);
        self::assertSame(3, $odd->exitCode);
        self::assertStringContainsString('unexpected answer', $odd->error);
    }

    public function testIpcEndpoint(): void
    {
        mkdir("{$this->dir}/run");
        $this->fakeWorker(['ok' => true, 'version' => '0.2.0'], '', "ipc://{$this->dir}/run/ctl.sock");
        $r = (new WorkerClient($this->paths))->ping();
        self::assertTrue($r->ok, $r->error);
        self::assertSame([['cmd' => 'ping']], $this->requests(), 'no token configured, none sent');
    }

    public function testLargeRepliesUseLongFrames(): void
    {
        $links = [];
        for ($i = 1; $i <= 400; $i++) {
            $links[] = ['id' => (string)$i, 'state' => 'idle', 'last_error' => str_repeat('é', 100)];
        }
        $this->fakeWorker(['ok' => true, 'links' => $links]);
        $r = (new WorkerClient($this->paths))->status();
        self::assertTrue($r->ok, $r->error);
        self::assertCount(400, $r->reply['links']);
        self::assertSame(str_repeat('é', 100), $r->reply['links'][399]['last_error']);
    }

    public function testDeadWorkerFailsFastAndSaysSo(): void
    {
        $endpoint = 'tcp://127.0.0.1:' . Support::freePort();
        $this->writeConfig($endpoint, 'tok');
        $t0 = microtime(true);
        $r  = (new WorkerClient($this->paths))->status();
        self::assertLessThan(0.5, microtime(true) - $t0, 'connection refused is immediate');
        self::assertFalse($r->ok);
        self::assertSame(3, $r->exitCode);
        self::assertSame("no conflink-worker listening at {$endpoint} (connection refused)", $r->error);

        $rest = (new RestActions(new WorkerClient($this->paths)))->handle('getStatus', []);
        self::assertSame(200, $rest['httpCode'], 'the status says the worker is down; the request worked');
        self::assertSame(503, (new RestActions(new WorkerClient($this->paths)))->handle('hangup', ['id' => '7'])['httpCode']);
        self::assertFalse($rest['data']['ok']);
        self::assertSame('', $rest['data']['start_problem']);

        // The supervisor recorded why the worker cannot start: that is what the pages show.
        (new StartProblem($this->paths->startProblemFile()))->write('conflink self-check: FAILED: … - zmq (pyzmq): ImportError: libstdc++.so.6: cannot open shared object file');
        $rest = (new RestActions(new WorkerClient($this->paths)))->handle('getStatus', []);
        self::assertStringStartsWith('conflink-worker cannot start: conflink self-check: FAILED', $rest['error']);
        self::assertStringContainsString('libstdc++.so.6', $rest['data']['start_problem']);

        $this->writeConfig("ipc://{$this->dir}/run/none.sock", '');
        $r = (new WorkerClient($this->paths))->ping();
        self::assertSame(3, $r->exitCode);
        self::assertStringContainsString('none.sock does not exist', (new ZmtpErrorProbe())->message("ipc://{$this->dir}/run/none.sock"));
    }

    public function testSilentPeerTimesOutAtTheDeadline(): void
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        self::assertIsResource($server);
        $endpoint = 'tcp://' . stream_socket_get_name($server, false);
        $t0 = microtime(true);
        try {
            (new ZmtpClient($endpoint, 0.4))->request('{"cmd":"ping"}');
            self::fail('no exception');
        } catch (ZmtpError $e) {
            $took = microtime(true) - $t0;
            self::assertSame(ZmtpError::EXIT_NO_ANSWER, $e->getCode());
            self::assertSame("no answer from conflink-worker at {$endpoint} within 0.4 s (is it running?)", $e->getMessage());
            self::assertGreaterThan(0.35, $took);
            self::assertLessThan(1.5, $took);
        }
        fclose($server);
    }

    public function testAHungWorkerHoldsAStatusPollOnlyForThePollTimeout(): void
    {
        // Accepts the connection, never answers: a hung worker, not a dead one.
        $server = stream_socket_server('tcp://127.0.0.1:0');
        self::assertIsResource($server);
        $endpoint = 'tcp://' . stream_socket_get_name($server, false);
        $this->writeConfig($endpoint, 'tok-123');
        $t0 = microtime(true);
        $r  = (new WorkerClient($this->paths))->status();
        $took = microtime(true) - $t0;
        fclose($server);
        self::assertSame(3, $r->exitCode);
        self::assertStringContainsString('within 1 s', $r->error);
        self::assertLessThan(WorkerClient::DEFAULT_TIMEOUT, $took);
    }

    public function testPeerThatIsNotZeroMqIsNamed(): void
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        self::assertIsResource($server);
        $endpoint = 'tcp://' . stream_socket_get_name($server, false);
        $pid = pcntl_fork();
        if ($pid === 0) {
            $conn = stream_socket_accept($server, 5);
            if ($conn !== false) {
                fwrite($conn, str_pad("HTTP/1.1 400 Bad Request\r\n\r\n", 64, ' '));
                usleep(300000);
            }
            exit(0);
        }
        try {
            (new ZmtpClient($endpoint, 2.0))->request('{}');
            self::fail('no exception');
        } catch (ZmtpError $e) {
            self::assertSame("{$endpoint} does not speak ZeroMQ (ZMTP)", $e->getMessage());
        } finally {
            pcntl_waitpid($pid, $status);
            fclose($server);
        }
    }

    public function testControlSettingsReadWhatTheRendererWrites(): void
    {
        foreach (['plain', 'with "quotes"', 'back\\slash', "tab\there", str_repeat('z', 256)] as $token) {
            $yaml = "control:\n  endpoint: " . ConfigRenderer::quote('ipc:///run/x.sock') . "\n  token: " . ConfigRenderer::quote($token) . "\ndialplan:\n  join_context: \"x\"\n";
            $read = ControlSettings::fromYaml($yaml);
            self::assertSame($token, $read->token);
            self::assertSame('ipc:///run/x.sock', $read->endpoint);
        }
        $none = ControlSettings::fromConfigFile("{$this->dir}/missing.yaml");
        self::assertSame(['tcp://127.0.0.1:7391', ''], [$none->endpoint, $none->token], 'the worker serves the default endpoint without a config');

        // After a push the worker rewrites the file with PyYAML: plain, single- or double-quoted.
        $tokens = ['plain123', "a'b", '*star', '&amp', '!bang', '%pct', '@at', '`tick', '#hash', 'a#b', '-dash', '?q',
            '{x}', '[x]', ',c', '|p', '>g', 'true', 'null', '~', '007', '1e3', '0x10', 'x:y', '"dq"', 'back\\slash'];
        $script = 'import json, sys, yaml; d = json.load(sys.stdin); '
            . 'print("\n".join(yaml.dump({"version": 1, "control": {"endpoint": "ipc:///run/x.sock", "token": t}, "links": []}, '
            . 'Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, allow_unicode=True, default_flow_style=False) + "\x00" for t in d))';
        $proc = proc_open([self::python(), '-c', $script], [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
        self::assertIsResource($proc);
        fwrite($pipes[0], json_encode($tokens));
        fclose($pipes[0]);
        $docs = explode("\x00", (string)stream_get_contents($pipes[1]));
        proc_close($proc);
        foreach ($tokens as $i => $token) {
            $read = ControlSettings::fromYaml($docs[$i]);
            self::assertSame($token, $read->token, $docs[$i]);
            self::assertSame('ipc:///run/x.sock', $read->endpoint);
        }
        $this->expectExceptionMessage('control.token: cannot read the value');
        ControlSettings::fromYaml("control:\n  token: \"unterminated\n");
    }
}

/** The exact text for an ipc socket file that is not there. */
final class ZmtpErrorProbe
{
    public function message(string $endpoint): string
    {
        try {
            (new ZmtpClient($endpoint, 1.0))->request('{}');
        } catch (ZmtpError $e) {
            return $e->getMessage();
        }
        return '';
    }
}
