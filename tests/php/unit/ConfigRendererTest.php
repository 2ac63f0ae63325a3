<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use InvalidArgumentException;
use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use PHPUnit\Framework\TestCase;

final class ConfigRendererTest extends TestCase
{
    public const SETTINGS = [
        'ami_host'         => '127.0.0.1',
        'ami_port'         => '5038',
        'ami_username'     => 'conflink_1a2b3c4d',
        'ami_secret'       => '9f2c0e7d8a6b4c3e1f0a9b8c7d6e5f4a',
        'control_endpoint' => 'tcp://127.0.0.1:7391',
        'control_token'    => '3b9e1c0a7d5f2e8b4a6c9d1e0f3a5b7c9e2d4f6a8b0c1d3e',
        'join_context'     => 'conflink-join',
    ];

    public const ROOMS = ['CONFERENCE-A' => '354233', 'CONFERENCE-B' => '0354233'];
    public const PROVIDERS = ['SIP-1601534775' => 'SIP-1601534775', 'SIP-TRUNK-INB' => 'trunkuser'];

    public const LINKS = [
        [
            'id' => '7', 'conference_uniqid' => 'CONFERENCE-A', 'provider_uniqid' => 'SIP-1601534775',
            'dst_number' => '+4930123', 'dtmf' => '0354233#wA', 'dtmf_delay' => '1.5', 'callerid' => '0354233',
            'ring_timeout' => '60', 'arm_delay' => '0', 'linger' => '2.5', 'max_attempts' => '5',
            'backoff' => '5,15,30,60,120', 'redial_on_drop' => '1', 'enabled' => '1', 'description' => 'Zoom "weekly"',
        ],
        [
            'id' => '8', 'conference_uniqid' => 'CONFERENCE-B', 'provider_uniqid' => 'SIP-TRUNK-INB',
            'dst_number' => '84957776675', 'dtmf' => '', 'dtmf_delay' => '1', 'callerid' => '',
            'ring_timeout' => '30', 'arm_delay' => '10', 'linger' => '0', 'max_attempts' => '0',
            'backoff' => '5', 'redial_on_drop' => '0', 'enabled' => '0', 'description' => '',
        ],
    ];

    public const EXPECTED = <<<'YAML'
# Worker config for ModuleConferenceLink, generated from the module database.
# Changes made here are overwritten on the next save in the web interface.
version: 1
ami:
  host: "127.0.0.1"
  port: 5038
  username: "conflink_1a2b3c4d"
  secret: "9f2c0e7d8a6b4c3e1f0a9b8c7d6e5f4a"
control:
  endpoint: "tcp://127.0.0.1:7391"
  token: "3b9e1c0a7d5f2e8b4a6c9d1e0f3a5b7c9e2d4f6a8b0c1d3e"
dialplan:
  join_context: "conflink-join"
links:
  - id: "7"
    room: "354233"
    enabled: true
    endpoint: "SIP-1601534775"
    number: "+4930123"
    dtmf: "0354233#wA"
    dtmf_delay: 1.5
    callerid: "0354233"
    ring_timeout: 60
    arm_delay: 0.0
    linger: 2.5
    retry:
      max_attempts: 5
      backoff: [5.0, 15.0, 30.0, 60.0, 120.0]
      redial_on_drop: true
  - id: "8"
    room: "0354233"
    enabled: false
    endpoint: "trunkuser"
    number: "84957776675"
    dtmf: ""
    dtmf_delay: 1.0
    callerid: ""
    ring_timeout: 30
    arm_delay: 10.0
    linger: 0.0
    retry:
      max_attempts: 0
      backoff: [5.0]
      redial_on_drop: false

YAML;

    public function testExactDocument(): void
    {
        $r = (new ConfigRenderer())->render(self::LINKS, self::ROOMS, self::PROVIDERS, self::SETTINGS);
        self::assertSame(self::EXPECTED, $r->yaml);
        self::assertSame([], $r->skipped);
    }

    public function testNumericLookingStringsAreQuoted(): void
    {
        $yaml = (new ConfigRenderer())->render(self::LINKS, self::ROOMS, self::PROVIDERS, self::SETTINGS)->yaml;
        self::assertStringContainsString('room: "0354233"', $yaml);
        self::assertStringContainsString('number: "+4930123"', $yaml);
        self::assertStringContainsString('callerid: "0354233"', $yaml);
        self::assertStringContainsString('id: "8"', $yaml);
        foreach (explode("\n", $yaml) as $line) {
            if (preg_match('/^\s*-?\s*(id|room|endpoint|number|dtmf|callerid|host|username|secret|endpoint|token|join_context): (.*)$/', $line, $m)) {
                self::assertMatchesRegularExpression('/^"[^"\\\\]*"$/', $m[2], $line);
            }
        }
    }

    public function testNoDescriptionAndOnlySchemaKeys(): void
    {
        $yaml = (new ConfigRenderer())->render(self::LINKS, self::ROOMS, self::PROVIDERS, self::SETTINGS)->yaml;
        self::assertStringNotContainsString('weekly', $yaml);
        preg_match_all('/^\s*(?:- )?([a-z_]+):/m', $yaml, $m);
        $allowed = ['version', 'ami', 'host', 'port', 'username', 'secret', 'control', 'endpoint', 'token', 'dialplan',
            'join_context', 'links', 'id', 'room', 'enabled', 'number', 'dtmf', 'dtmf_delay', 'callerid',
            'ring_timeout', 'arm_delay', 'linger', 'retry', 'max_attempts', 'backoff', 'redial_on_drop'];
        self::assertSame([], array_values(array_diff(array_unique($m[1]), $allowed)));
    }

    public function testEmptyLinksAndNoToken(): void
    {
        $settings = self::SETTINGS;
        unset($settings['control_token']);
        $yaml = (new ConfigRenderer())->render([], [], [], $settings)->yaml;
        self::assertStringEndsWith("links: []\n", $yaml);
        self::assertStringNotContainsString('token', $yaml);
    }

    public function testStaleAndInvalidRowsAreLeftOutAndReported(): void
    {
        $links   = self::LINKS;
        $links[] = ['id' => '9', 'conference_uniqid' => 'CONFERENCE-A', 'provider_uniqid' => 'SIP-DISABLED', 'dst_number' => '1'];
        $links[] = ['id' => '10', 'conference_uniqid' => 'CONFERENCE-GONE', 'provider_uniqid' => 'SIP-1601534775', 'dst_number' => '1'];
        $links[] = ['id' => '11', 'conference_uniqid' => 'CONFERENCE-A', 'provider_uniqid' => 'SIP-1601534775', 'dst_number' => "1\nversion: 2"];
        $links[] = ['id' => '7', 'conference_uniqid' => 'CONFERENCE-A', 'provider_uniqid' => 'SIP-1601534775', 'dst_number' => '2'];
        $links[] = ['id' => 'x-1', 'conference_uniqid' => 'CONFERENCE-A', 'provider_uniqid' => 'SIP-1601534775', 'dst_number' => '2'];
        $r = (new ConfigRenderer())->render($links, self::ROOMS, self::PROVIDERS, self::SETTINGS);
        self::assertSame(self::EXPECTED, $r->yaml);
        self::assertSame(['9', '10', '11', '7', 'x-1'], array_column($r->skipped, 'id'));
        self::assertSame('module_conflink_error_provider_unknown', $r->skipped[0]['errors']['provider_uniqid']);
        self::assertSame('module_conflink_error_room_unknown', $r->skipped[1]['errors']['conference_uniqid']);
        self::assertSame('module_conflink_error_number_format', $r->skipped[2]['errors']['dst_number']);
    }

    /** @return iterable<string, array{string, mixed, string}> */
    public static function badSettings(): iterable
    {
        yield 'port 0' => ['ami_port', '0', 'ami.port'];
        yield 'port 65536' => ['ami_port', '65536', 'ami.port'];
        yield 'port text' => ['ami_port', '5038x', 'ami.port'];
        yield 'user empty' => ['ami_username', '', 'ami.username'];
        yield 'user newline' => ['ami_username', "a\nb", 'ami.username'];
        yield 'user bracket' => ['ami_username', 'a]', 'ami.username'];
        yield 'secret empty' => ['ami_secret', '', 'ami.secret'];
        yield 'secret CR' => ['ami_secret', "abc\rdef", 'ami.secret'];
        yield 'secret 129' => ['ami_secret', str_repeat('a', 129), 'ami.secret'];
        yield 'endpoint remote' => ['control_endpoint', 'tcp://0.0.0.0:7391', 'control.endpoint'];
        yield 'endpoint public' => ['control_endpoint', 'tcp://10.0.0.1:7391', 'control.endpoint'];
        yield 'endpoint port 0' => ['control_endpoint', 'tcp://127.0.0.1:0', 'control.endpoint'];
        yield 'endpoint ipc relative' => ['control_endpoint', 'ipc://run/x', 'control.endpoint'];
        yield 'token space' => ['control_token', 'a b', 'control.token'];
        yield 'token 257' => ['control_token', str_repeat('a', 257), 'control.token'];
        yield 'context' => ['join_context', 'a b', 'dialplan.join_context'];
        yield 'host' => ['ami_host', 'a b', 'ami.host'];
    }

    /** @dataProvider badSettings */
    public function testBadSettingsFailNamingTheKey(string $key, mixed $value, string $path): void
    {
        $settings       = self::SETTINGS;
        $settings[$key] = $value;
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage($path);
        (new ConfigRenderer())->render([], [], [], $settings);
    }

    public function testOtherLocalEndpointsAccepted(): void
    {
        foreach (['tcp://localhost:1', 'tcp://[::1]:65535', 'ipc:///var/run/custom_modules/x/ctl.sock'] as $ep) {
            $settings                     = self::SETTINGS;
            $settings['control_endpoint'] = $ep;
            $yaml = (new ConfigRenderer())->render([], [], [], $settings)->yaml;
            self::assertStringContainsString('endpoint: "' . $ep . '"', $yaml);
        }
    }

    public function testQuoteEscapesEverythingThatCouldBreakOut(): void
    {
        self::assertSame('"a\\"b"', ConfigRenderer::quote('a"b'));
        self::assertSame('"a\\\\b"', ConfigRenderer::quote('a\\b'));
        self::assertSame('"a\\x0Ab\\x0Dc\\x00\\x7F"', ConfigRenderer::quote("a\nb\rc\0\x7F"));
        self::assertSame('"Совещание"', ConfigRenderer::quote('Совещание'));
        self::assertSame('"#: - [x]"', ConfigRenderer::quote('#: - [x]'));
    }

    public function testFloatsAlwaysCarryADecimalPoint(): void
    {
        self::assertSame('0.0', ConfigRenderer::float(0.0));
        self::assertSame('60.0', ConfigRenderer::float(60.0));
        self::assertSame('0.25', ConfigRenderer::float(0.25));
    }

    public function testFarEndKeysAreWrittenOnlyWhenNotDefaultAndPresetsRenderTheirSequence(): void
    {
        $row = self::LINKS[0];
        $row['preset'] = 'zoom';
        $row['meeting_id'] = '123 456 789';
        $row['passcode'] = '4321';
        $row['prompt_silence'] = '0.25';
        $row['prompt_timeout'] = '120';
        $row['dtmf_mode'] = 'inband';
        $row['dead_air'] = '45';
        $row['end_cooldown'] = '0';
        $yaml = (new ConfigRenderer())->render([$row], self::ROOMS, self::PROVIDERS, self::SETTINGS)->yaml;
        self::assertStringContainsString("    dtmf: \"p123456789#p#p4321#\"\n", $yaml, 'the stored dtmf is rebuilt from the fields');
        self::assertStringEndsWith(
            "      redial_on_drop: true\n    prompt_silence: 0.25\n    prompt_timeout: 120.0\n    dtmf_mode: \"inband\"\n"
            . "    dead_air: 45\n    end_cooldown: 0\n",
            $yaml
        );
        // Only what differs: one key changed, one key written.
        $one = self::LINKS[1] + ['end_cooldown' => '300', 'prompt_silence' => '1.000'];
        $yaml = (new ConfigRenderer())->render([$one], self::ROOMS, self::PROVIDERS, self::SETTINGS)->yaml;
        self::assertStringEndsWith("      redial_on_drop: false\n    end_cooldown: 300\n", $yaml);
    }

    public function testARowWithABadPresetFieldIsSkippedNotRendered(): void
    {
        $row = ['preset' => 'meet', 'meeting_id' => '1234'] + self::LINKS[0];
        $result = (new ConfigRenderer())->render([$row, self::LINKS[1]], self::ROOMS, self::PROVIDERS, self::SETTINGS);
        self::assertSame([['id' => '7', 'errors' => ['meeting_id' => 'module_conflink_error_meet_meeting_id_format']]], $result->skipped);
        self::assertStringNotContainsString('id: "7"', $result->yaml);
    }
}
