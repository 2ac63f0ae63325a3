<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\AtomicFile;
use Modules\ModuleConferenceLink\Lib\BackoffSchedule;
use Modules\ModuleConferenceLink\Lib\ChildSupervisor;
use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use Modules\ModuleConferenceLink\Lib\CtlClient;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\PidFile;
use Modules\ModuleConferenceLink\Lib\RestActions;
use Modules\ModuleConferenceLink\Lib\RestAPI\Links\Processor;
use Modules\ModuleConferenceLink\Lib\ConferenceLinkConf;
use Modules\ModuleConferenceLink\Lib\WorkerClient;
use Modules\ModuleConferenceLink\Lib\WorkerCommand;
use PHPUnit\Framework\TestCase;

/**
 * The PHP side against the real bin/conflink-worker (Python, pyzmq): supervise, push a rendered
 * config (bin/conflink-ctl), ask status and hang up from PHP over ZeroMQ (WorkerClient, and the
 * REST Processor core calls), stop. No Asterisk is needed (the
 * worker keeps answering its control socket while AMI is unreachable).
 * The interpreter is $CONFLINK_PYTHON, else what bin/conflink-worker picks (the checkout's
 * .venv); without pyzmq/panoramisk the test fails, it is not skipped.
 */
final class RealWorkerTest extends TestCase
{
    private ?ChildSupervisor $sup = null;

    protected function tearDown(): void
    {
        $this->sup?->stopChild();
        Support::removeAll();
    }

    public function testSuperviseConfigureQueryStop(): void
    {
        $top   = dirname(__DIR__, 3);
        $dir   = Support::tempDir('real');
        $paths = new ModulePaths($top, "{$dir}/etc", "{$dir}/run", "{$dir}/log");
        $settings = [
            'ami_port'         => (string)Support::freePort(), // nothing listens: AMI stays down
            'ami_username'     => 'conflink_test',
            'ami_secret'       => 'secret12345',
            'control_endpoint' => 'tcp://127.0.0.1:' . Support::freePort(),
            'control_token'    => bin2hex(random_bytes(16)),
        ];
        $links = [['id' => '7', 'conference_uniqid' => 'CONFERENCE-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '+4930123']];
        $render = static fn (array $links): string => (new ConfigRenderer())->render($links, ['CONFERENCE-1' => '0354233'], ['SIP-1' => 'SIP-1'], $settings)->yaml;
        AtomicFile::write($paths->configFile(), $render($links));

        $log = new \ArrayObject();
        $this->sup = new ChildSupervisor(
            WorkerCommand::worker($paths),
            new PidFile($paths->pidFile()),
            new BackoffSchedule(),
            $paths->workerStderrLog(),
            null,
            function (string $m, bool $e) use ($log): void {
                $log[] = $m;
            }
        );
        $this->sup->tick(microtime(true));
        $pid = $this->sup->childPid();
        self::assertGreaterThan(0, $pid);

        $ctl    = new CtlClient($paths);
        $worker = new WorkerClient($paths);
        $ping   = null;
        $up     = Support::waitFor(function () use ($worker, &$ping): bool {
            $this->sup->tick(microtime(true));
            $ping = $worker->ping();
            return $ping->ok;
        }, 20.0);
        self::assertTrue($up, "worker did not answer: {$ping?->error}\n" . implode("\n", $log->getArrayCopy())
            . "\n" . @file_get_contents($paths->workerStderrLog()));
        self::assertSame($pid, (new PidFile($paths->pidFile()))->runningPid(), 'the PID file names the live worker');

        $links[] = ['id' => '8', 'conference_uniqid' => 'CONFERENCE-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '100', 'enabled' => '0'];
        AtomicFile::write($paths->configFile(), $render($links));
        $push = $ctl->pushConfig($paths->configFile());
        self::assertTrue($push->ok, $push->error);

        $raw = $worker->status();
        self::assertTrue($raw->ok, $raw->error);
        self::assertFalse($raw->reply['ami']['connected']);
        self::assertSame(['7', '8'], array_column($raw->reply['links'], 'id'));
        self::assertSame('0354233', $raw->reply['links'][0]['room'], 'room stays a string end to end');

        // The REST resource as core runs it: BaseRestController queues {action, data}, the
        // API worker calls the Processor.
        ConferenceLinkConf::usePaths($paths);
        try {
            $api = Processor::callBack(['action' => 'getStatus', 'data' => ['httpMethod' => 'GET']]);
            self::assertTrue($api->success, json_encode($api->messages));
            self::assertSame(200, $api->httpCode);
            self::assertSame(['7', '8'], array_map('strval', array_keys($api->data['links'])));
            self::assertSame('0354233', $api->data['links']['7']['room']);
            $hangup = Processor::callBack(['action' => 'hangup', 'data' => ['id' => '7', 'httpMethod' => 'POST']]);
            self::assertFalse($hangup->success, 'nothing to hang up');
            self::assertSame(422, $hangup->httpCode);
            self::assertNotSame('', $hangup->messages['error'][0]);
            // Room controls reach the real worker, which refuses them: it has no AMI here.
            foreach (['mute' => [], 'unmute' => [], 'dtmf' => ['digits' => '*6']] as $action => $extra) {
                $r = Processor::callBack(['action' => $action, 'data' => ['id' => '7', 'httpMethod' => 'POST'] + $extra]);
                self::assertFalse($r->success, $action);
                self::assertSame(422, $r->httpCode, $action);
                self::assertSame('AMI is not connected', $r->messages['error'][0], $action);
            }
            $r = Processor::callBack(['action' => 'dtmf', 'data' => ['id' => '7', 'digits' => '1w', 'httpMethod' => 'POST']]);
            self::assertSame(400, $r->httpCode, 'bad digits are refused before the worker');
        } finally {
            ConferenceLinkConf::usePaths(null);
        }
        $unknown = $worker->dial('99');
        self::assertFalse($unknown->ok);
        self::assertSame(1, $unknown->exitCode);
        self::assertSame("link: no link with id '99'", $unknown->error);

        // A wrong token is refused by the worker.
        $bad = $settings;
        $bad['control_token'] = 'wrong-token-123';
        $badPaths = new ModulePaths($top, "{$dir}/etc-bad", "{$dir}/run", "{$dir}/log");
        AtomicFile::write($badPaths->configFile(), (new ConfigRenderer())->render([], [], [], $bad)->yaml);
        $refused = (new WorkerClient($badPaths))->status();
        self::assertFalse($refused->ok);
        self::assertSame('unauthorized', $refused->error);

        $this->sup->stopChild();
        self::assertFalse(PidFile::isAlive($pid));
        self::assertNull((new PidFile($paths->pidFile()))->read());
        $t0   = microtime(true);
        $dead = $worker->ping();
        self::assertFalse($dead->ok);
        self::assertSame(3, $dead->exitCode);
        self::assertStringContainsString('connection refused', $dead->error);
        self::assertLessThan(0.5, microtime(true) - $t0, 'a stopped worker is reported at once');
    }
}
