<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use PHPUnit\Framework\TestCase;

/**
 * The rendered YAML read back by the worker's own config loader (python-worker/conflink/config.py,
 * PyYAML): types survive (0354233 stays a string, 1.0 a float) and the worker accepts it.
 * Python is taken from $CONFLINK_PYTHON, else the checkout's .venv, else python3; a missing
 * interpreter or PyYAML fails the test (it is not skipped).
 */
final class WorkerParserAgreementTest extends TestCase
{
    private static function python(): string
    {
        $env = getenv('CONFLINK_PYTHON');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        $venv = dirname(__DIR__, 3) . '/.venv/bin/python';
        return is_executable($venv) ? $venv : 'python3';
    }

    public function testWorkerLoadsTheRenderedConfig(): void
    {
        $yaml = (new ConfigRenderer())->render(
            ConfigRendererTest::LINKS,
            ConfigRendererTest::ROOMS,
            ConfigRendererTest::PROVIDERS,
            ConfigRendererTest::SETTINGS
        )->yaml;
        $code = <<<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from conflink.config import parse_config_text
c = parse_config_text(sys.stdin.read())
out = {"ami": [c.ami.host, c.ami.port, c.ami.username], "token": c.control.token,
       "context": c.dialplan.join_context,
       "links": [[l.id, l.room, l.endpoint, l.number, l.dtmf, l.dtmf_delay, l.callerid, l.ring_timeout,
                  l.arm_delay, l.linger, l.enabled, l.retry.max_attempts, list(l.retry.backoff),
                  l.retry.redial_on_drop] for l in c.links]}
print(json.dumps(out))
PY;
        $proc = proc_open(
            [self::python(), '-c', $code, dirname(__DIR__, 3) . '/python-worker'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes
        );
        self::assertIsResource($proc, 'cannot run ' . self::python());
        fwrite($pipes[0], $yaml);
        fclose($pipes[0]);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        self::assertSame(0, proc_close($proc), "worker config loader failed (set CONFLINK_PYTHON to a Python with PyYAML):\n{$err}");
        $got = json_decode((string)$out, true, 512, JSON_THROW_ON_ERROR);
        self::assertSame(['127.0.0.1', 5038, 'conflink_1a2b3c4d'], $got['ami']);
        self::assertSame(ConfigRendererTest::SETTINGS['control_token'], $got['token']);
        self::assertSame('conflink-join', $got['context']);
        self::assertSame(
            ['7', '354233', 'SIP-1601534775', '+4930123', '0354233#wA', 1.5, '0354233', 60, 0.0, 2.5, true, 5,
                [5.0, 15.0, 30.0, 60.0, 120.0], true],
            $got['links'][0]
        );
        self::assertSame(
            ['8', '0354233', 'trunkuser', '84957776675', '', 1.0, '', 30, 10.0, 0.0, false, 0, [5.0], false],
            $got['links'][1]
        );
    }
}
