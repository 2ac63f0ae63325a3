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

    /**
     * Runs python-worker's config loader on each document; returns, per document, the far-end
     * keys of its first link or the loader's error text.
     *
     * @param list<string> $documents YAML texts
     * @return list<array<string, mixed>|string>
     */
    private static function workerReads(array $documents): array
    {
        $code = <<<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from conflink.config import ConfigError, parse_config_text
out = []
for text in json.load(sys.stdin):
    try:
        l = parse_config_text(text).links[0]
        out.append({"dtmf": l.dtmf, "prompt_silence": l.prompt_silence, "prompt_timeout": l.prompt_timeout,
                    "dtmf_mode": l.dtmf_mode, "dead_air": l.dead_air, "end_cooldown": l.end_cooldown,
                    "room_keys": l.room_keys, "max_call_minutes": l.max_call_minutes,
                    "daily_minutes": l.daily_minutes, "schedule_windows": len(l.schedule),
                    "schedule_end": l.schedule_end, "announce": l.announce,
                    "dial_via": l.dial_via, "endpoint": l.endpoint, "number": l.number})
    except ConfigError as exc:
        out.append(str(exc))
print(json.dumps(out))
PY;
        $proc = proc_open(
            [self::python(), '-c', $code, dirname(__DIR__, 3) . '/python-worker'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes
        );
        self::assertIsResource($proc, 'cannot run ' . self::python());
        fwrite($pipes[0], json_encode($documents, JSON_THROW_ON_ERROR));
        fclose($pipes[0]);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        self::assertSame(0, proc_close($proc), "worker config loader failed:\n{$err}");
        return json_decode((string)$out, true, 512, JSON_THROW_ON_ERROR);
    }

    /** A link document with one far-end key set to a raw YAML value, bypassing the PHP side. */
    private static function rawDocument(string $key, string $yamlValue): string
    {
        return "version: 1\nlinks:\n  - {id: \"1\", room: \"1\", endpoint: \"E\", number: \"1\", {$key}: {$yamlValue}}\n";
    }

    /**
     * The far-end keys: every value on and around each limit gets the same verdict from the
     * PHP validator and the worker's loader; what PHP accepts the worker reads back as the same
     * number; with the keys left out (their defaults), the worker's defaults are PHP's.
     */
    public function testFarEndKeysAgreeWithTheWorkersLimitsAndDefaults(): void
    {
        $samples = [
            'prompt_silence' => ['0.2', '5', '1', '0.25', '0.199', '5.001', '0', '10'],
            'prompt_timeout' => ['1', '120', '20', '7.5', '0.999', '120.001', '0', '121'],
            'dead_air'       => ['0', '5', '3600', '60', '4', '1', '3601'],
            'end_cooldown'   => ['0', '3600', '120', '3601'],
            'dtmf_mode'      => ['auto', 'rfc4733', 'inband', 'info', 'rfc2833', 'AUTO', 'sip'],
        ];
        $validator = new \Modules\ModuleConferenceLink\Lib\LinkValidator(ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS);
        $documents = [];
        $cases = [];
        foreach ($samples as $key => $values) {
            foreach ($values as $value) {
                $php = $validator->check([$key => $value] + ConfigRendererTest::LINKS[0]);
                $yaml = $key === 'dtmf_mode' ? '"' . $value . '"' : $value;
                $documents[] = self::rawDocument($key, $yaml);
                $cases[] = [$key, $value, $php->isValid() ? 'accepted' : 'refused', $php->isValid()];
                if ($php->isValid()) {
                    $documents[] = (new ConfigRenderer())->render(
                        [[$key => $value] + ConfigRendererTest::LINKS[0]],
                        ConfigRendererTest::ROOMS,
                        ConfigRendererTest::PROVIDERS,
                        ConfigRendererTest::SETTINGS
                    )->yaml;
                    $cases[] = [$key, $value, 'rendered', true];
                }
            }
        }
        $defaults = (new ConfigRenderer())->render([ConfigRendererTest::LINKS[0]], ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS, ConfigRendererTest::SETTINGS)->yaml;
        $documents[] = $defaults;
        $preset = (new ConfigRenderer())->render(
            [['preset' => 'teams', 'meeting_id' => '123456789', 'passcode' => '1234'] + ConfigRendererTest::LINKS[0]],
            ConfigRendererTest::ROOMS,
            ConfigRendererTest::PROVIDERS,
            ConfigRendererTest::SETTINGS
        )->yaml;
        $documents[] = $preset;

        $read = self::workerReads($documents);
        self::assertCount(count($documents), $read);
        foreach ($cases as $n => [$key, $value, $what, $accepted]) {
            $got = $read[$n];
            $label = "{$key} = {$value} ({$what} by PHP)";
            self::assertSame($accepted, is_array($got), "{$label}: the worker " . (is_array($got) ? 'accepts it' : "refuses it: {$got}"));
            if ($what === 'rendered') {
                $expected = $key === 'dtmf_mode' ? $value : (in_array($key, ['dead_air', 'end_cooldown'], true) ? (int)$value : (float)$value);
                self::assertSame($expected, $got[$key], $label);
            }
        }
        $d = \Modules\ModuleConferenceLink\Lib\LinkValidator::DEFAULTS;
        self::assertSame([
            'dtmf' => '0354233#wA',
            'prompt_silence' => (float)$d['prompt_silence'],
            'prompt_timeout' => (float)$d['prompt_timeout'],
            'dtmf_mode' => $d['dtmf_mode'],
            'dead_air' => (int)$d['dead_air'],
            'end_cooldown' => (int)$d['end_cooldown'],
            'room_keys' => $d['room_keys'],
            'max_call_minutes' => (int)$d['max_call_minutes'],
            'daily_minutes' => (int)$d['daily_minutes'],
            'schedule_windows' => 0,
            'schedule_end' => $d['schedule_end'],
            'announce' => $d['announce'] === '1',
            'dial_via' => $d['dial_via'],
            'endpoint' => 'SIP-1601534775',
            'number' => '+4930123',
        ], $read[count($documents) - 2], 'the worker\'s defaults are the PHP defaults');
        self::assertSame('p123456789#p*p1234#', $read[count($documents) - 1]['dtmf'], 'a preset sequence with p passes the worker');
    }

    /**
     * dial_via: routes reaches the worker without an endpoint (none chosen, or a provider left
     * in the row, even a disabled one); provider renders as in 0.1.0 (no dial_via key); a
     * routes link the worker refuses never renders.
     */
    public function testDialViaAgreesWithTheWorker(): void
    {
        $validator = new \Modules\ModuleConferenceLink\Lib\LinkValidator(ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS);
        $rows = [
            ['dial_via' => 'routes', 'provider_uniqid' => ''] + ConfigRendererTest::LINKS[0],
            ['dial_via' => 'routes', 'provider_uniqid' => 'SIP-DISABLED'] + ConfigRendererTest::LINKS[0],
            ['dial_via' => 'provider'] + ConfigRendererTest::LINKS[0],
            ['dial_via' => null] + ConfigRendererTest::LINKS[0],
        ];
        $documents = [];
        foreach ($rows as $n => $row) {
            $php = $validator->check($row);
            self::assertTrue($php->isValid(), "row {$n}: " . json_encode($php->errors));
            $rendered = (new ConfigRenderer())->render([$row], ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS, ConfigRendererTest::SETTINGS);
            self::assertSame([], $rendered->skipped, "row {$n}");
            $documents[] = $rendered->yaml;
        }
        self::assertSame('', $validator->check($rows[1])->values['provider_uniqid'], 'a routes link keeps no provider');
        self::assertStringNotContainsString('    endpoint:', $documents[0]);
        self::assertStringContainsString('    dial_via: "routes"', $documents[0]);
        self::assertStringNotContainsString('dial_via', $documents[2], 'the default is not written');
        foreach (['route', 'ROUTES', ''] as $bad) {
            self::assertSame(['dial_via' => 'module_conflink_error_dial_via'],
                $validator->check(['dial_via' => $bad] + ConfigRendererTest::LINKS[0])->errors, $bad);
        }
        self::assertSame(['provider_uniqid' => 'module_conflink_error_provider_required'],
            $validator->check(['dial_via' => 'provider', 'provider_uniqid' => ''] + ConfigRendererTest::LINKS[0])->errors);
        $read = self::workerReads($documents);
        self::assertSame(['routes', ''], [$read[0]['dial_via'], $read[0]['endpoint']]);
        self::assertSame(['routes', ''], [$read[1]['dial_via'], $read[1]['endpoint']]);
        self::assertSame(['provider', 'SIP-1601534775'], [$read[2]['dial_via'], $read[2]['endpoint']]);
        self::assertSame($read[2], $read[3], 'NULL (a row from before the column) reads as provider');
    }

    /** announce: a checked box reaches the worker as true, an unchecked one as its default false. */
    public function testAnnounceAgreesWithTheWorker(): void
    {
        $validator = new \Modules\ModuleConferenceLink\Lib\LinkValidator(ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS);
        $documents = [];
        foreach (['on', '1', '0', ''] as $value) {
            $php = $validator->check(['announce' => $value] + ConfigRendererTest::LINKS[0]);
            self::assertTrue($php->isValid(), $value);
            $documents[] = (new ConfigRenderer())->render([$php->values + ConfigRendererTest::LINKS[0]],
                ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS, ConfigRendererTest::SETTINGS)->yaml;
        }
        $read = self::workerReads($documents);
        self::assertSame([true, true, false, false], array_column($read, 'announce'));
        self::assertStringNotContainsString('announce:', $documents[2], 'the default is not written');
    }

    /** Schedules: what PHP accepts (and normalises) the worker reads as the same windows. */
    public function testSchedulesAgreeWithTheWorker(): void
    {
        $validator = new \Modules\ModuleConferenceLink\Lib\LinkValidator(ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS);
        $samples = [
            ["mon-fri 08:00-18:00", 'linger', 1],
            ["MON-FRI  08:00-18:00\n\nsat,sun 10:00-14:00\r\nfri 22:00-02:00", 'keep', 3],
            ["sat 00:00-24:00", 'keep', 1],
            [str_repeat("tue 09:00-10:00\n", 14), 'linger', 14],
        ];
        $documents = [];
        foreach ($samples as [$schedule, $end]) {
            $php = $validator->check(['schedule' => $schedule, 'schedule_end' => $end] + ConfigRendererTest::LINKS[0]);
            self::assertTrue($php->isValid(), json_encode($php->errors));
            $documents[] = (new ConfigRenderer())->render([$php->values + ConfigRendererTest::LINKS[0]],
                ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS, ConfigRendererTest::SETTINGS)->yaml;
        }
        foreach (['mon 08:00-08:00', 'mon 8:00-18:00', "mon 09:00-10:00\n" . str_repeat("tue 09:00-10:00\n", 14)] as $bad) {
            self::assertFalse($validator->check(['schedule' => $bad] + ConfigRendererTest::LINKS[0])->isValid(), $bad);
        }
        $read = self::workerReads($documents);
        foreach ($samples as $n => [, $end, $count]) {
            self::assertIsArray($read[$n], json_encode($read[$n]));
            self::assertSame([$count, $end], [$read[$n]['schedule_windows'], $read[$n]['schedule_end']], "sample {$n}");
        }
    }

    /** Cost limits: the same verdict on every value around the limits; accepted values read back the same. */
    public function testCostLimitsAgreeWithTheWorker(): void
    {
        $validator = new \Modules\ModuleConferenceLink\Lib\LinkValidator(ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS);
        $documents = [];
        $cases = [];
        foreach (['max_call_minutes', 'daily_minutes'] as $key) {
            foreach (['0', '1', '1440', '90', '1441', '-1', '1.5', '00'] as $value) {
                $php = $validator->check([$key => $value] + ConfigRendererTest::LINKS[0]);
                $documents[] = self::rawDocument($key, $value);
                $cases[] = [$key, $value, $php->isValid(), false];
                if ($php->isValid()) {
                    $documents[] = (new ConfigRenderer())->render([[$key => $value] + ConfigRendererTest::LINKS[0]],
                        ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS, ConfigRendererTest::SETTINGS)->yaml;
                    $cases[] = [$key, $value, true, true];
                }
            }
        }
        $read = self::workerReads($documents);
        foreach ($cases as $n => [$key, $value, $accepted, $rendered]) {
            $label = "{$key} = {$value}" . ($rendered ? ' (rendered)' : ' (raw)');
            if ($value === '00' && !$rendered) {
                continue;  // YAML 1.1 reads a bare 00 as octal 0: the raw form is not what PHP renders
            }
            self::assertSame($accepted, is_array($read[$n]), "{$label}: " . json_encode($read[$n]));
            if ($rendered) {
                self::assertSame((int)$value, $read[$n][$key], $label);
            }
        }
    }

    /**
     * room_keys: what PHP accepts (after its normalising: spaces dropped, a-d upper-cased) the
     * worker reads back unchanged; what PHP refuses the worker refuses too; the default ('' =
     * off, as in 0.1.0) is not written and is the worker's default; *6 (a new link's) is written.
     */
    public function testRoomKeysAgreeWithTheWorker(): void
    {
        $validator = new \Modules\ModuleConferenceLink\Lib\LinkValidator(ConfigRendererTest::ROOMS, ConfigRendererTest::PROVIDERS);
        $documents = [];
        $expect = [];
        foreach (['*6', '', '#9#', '* 6', 'abcd', '0123456#', '012345678', '*6w', 'p', '*,6', 'e', '"'] as $value) {
            $php = $validator->check(['room_keys' => $value] + ConfigRendererTest::LINKS[0]);
            if ($php->isValid()) {
                $rendered = (new ConfigRenderer())->render(
                    [['room_keys' => $value] + ConfigRendererTest::LINKS[0]],
                    ConfigRendererTest::ROOMS,
                    ConfigRendererTest::PROVIDERS,
                    ConfigRendererTest::SETTINGS
                )->yaml;
                self::assertSame($php->values['room_keys'] !== '', str_contains($rendered, 'room_keys:'), "{$value}: written only when not the default");
                $documents[] = $rendered;
                $expect[] = $php->values['room_keys'];
            } else {
                $documents[] = self::rawDocument('room_keys', ConfigRenderer::quote($value));
                $expect[] = null;
            }
        }
        $read = self::workerReads($documents);
        foreach ($expect as $n => $want) {
            if ($want === null) {
                self::assertIsString($read[$n], "sample {$n}: refused by PHP, so by the worker too");
                self::assertStringContainsString('room_keys', $read[$n]);
            } else {
                self::assertIsArray($read[$n], "sample {$n}: accepted by PHP, so by the worker too");
                self::assertSame($want, $read[$n]['room_keys'], "sample {$n}");
            }
        }
        self::assertSame(['*6', '', '#9#', '*6', 'ABCD', '0123456#'], array_values(array_filter($expect, 'is_string')));
    }
}
