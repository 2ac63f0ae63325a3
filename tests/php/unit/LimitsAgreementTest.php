<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use PHPUnit\Framework\TestCase;

/**
 * The worker's config.py is the one source of every link limit and pattern
 * (conflink.config.limits_document()); the validator's copies must say the same.
 * Python: $CONFLINK_PYTHON, else the checkout's .venv, else python3 (missing = failure).
 */
final class LimitsAgreementTest extends TestCase
{
    /** validator field => worker key */
    private const KEYS = [
        'dtmf_delay' => 'dtmf_delay',
        'ring_timeout' => 'ring_timeout',
        'arm_delay' => 'arm_delay',
        'linger' => 'linger',
        'max_attempts' => 'retry.max_attempts',
        'backoff' => 'retry.backoff',
        'prompt_silence' => 'prompt_silence',
        'prompt_timeout' => 'prompt_timeout',
        'dead_air' => 'dead_air',
        'end_cooldown' => 'end_cooldown',
        'test_call_seconds' => 'test_call_seconds',
        'max_call_minutes' => 'max_call_minutes',
        'daily_minutes' => 'daily_minutes',
    ];

    /** @return array<string, mixed> */
    public static function workerLimits(): array
    {
        $env = getenv('CONFLINK_PYTHON');
        $venv = dirname(__DIR__, 3) . '/.venv/bin/python';
        $python = is_string($env) && $env !== '' ? $env : (is_executable($venv) ? $venv : 'python3');
        $code = 'import json, sys; sys.path.insert(0, sys.argv[1]); '
            . 'from conflink.config import limits_document; print(json.dumps(limits_document()))';
        $cmd = escapeshellarg($python) . ' -c ' . escapeshellarg($code) . ' '
            . escapeshellarg(dirname(__DIR__, 3) . '/python-worker') . ' 2>&1';
        exec($cmd, $out, $rc);
        self::assertSame(0, $rc, "cannot read the worker's limits with {$python}:\n" . implode("\n", $out));
        return json_decode(implode("\n", $out), true, 512, JSON_THROW_ON_ERROR);
    }

    private static function body(string $pcre): string
    {
        // '/^…$/D' → '^…$'
        self::assertMatchesRegularExpression('~^/\^.*\$/D$~', $pcre);
        return substr($pcre, 1, -2);
    }

    public function testEveryRangeIsTheWorkers(): void
    {
        $doc = self::workerLimits();
        $keys = array_keys(LinkValidator::LIMITS);
        sort($keys);
        $want = array_keys(self::KEYS);
        sort($want);
        self::assertSame($want, $keys, 'validator LIMITS keys');
        foreach (self::KEYS as $field => $key) {
            self::assertArrayHasKey($key, $doc['limits'], "worker has no limit for {$key}");
            $w = $doc['limits'][$key];
            [$low, $high, $integer, $off] = LinkValidator::LIMITS[$field];
            self::assertEquals([$w['low'], $w['high'], $w['integer'], $w['off']], [$low, $high, $integer, $off], $field);
            self::assertSame($w['integer'], is_int($low) && is_int($high), "{$field}: integer limits are ints");
        }
        self::assertSame($doc['backoff_items'][1], LinkValidator::BACKOFF_MAX_ITEMS);
        self::assertEquals($doc['limits']['test_call_seconds']['default'], LinkValidator::TEST_CALL_DEFAULT);
    }

    public function testEveryPatternIsTheWorkers(): void
    {
        $p = self::workerLimits()['patterns'];
        self::assertSame($p['room'], self::body(LinkValidator::ROOM_RE));
        self::assertSame($p['link_id'], self::body(LinkValidator::LINK_ID_RE));
        self::assertSame($p['number'], self::body(LinkValidator::NUMBER_RE));
        self::assertSame($p['endpoint'], self::body(LinkValidator::ENDPOINT_RE));
        self::assertSame($p['callerid'], self::body(LinkValidator::CALLERID_RE));
        self::assertSame($p['dtmf'], self::body(LinkValidator::DTMF_CANONICAL_RE));
        self::assertSame($p['room_keys'], self::body(LinkValidator::ROOM_KEYS_RE));
        self::assertSame($p['send_digits'], self::body(LinkValidator::SEND_DIGITS_RE));
        self::assertSame($p['schedule_window'], self::body(LinkValidator::SCHEDULE_WINDOW_RE));
    }

    /** The choices of the select fields, and the default of dial_via, are the worker's. */
    public function testEveryChoiceIsTheWorkers(): void
    {
        $doc = self::workerLimits();
        $c = $doc['choices'];
        self::assertSame($c['dial_via'], LinkValidator::DIAL_VIA);
        self::assertSame($c['dial_via'][0], LinkValidator::DEFAULTS['dial_via']);
        self::assertSame($c['dtmf_mode'], LinkValidator::DTMF_MODES);
        self::assertSame($c['schedule_end'], LinkValidator::SCHEDULE_ENDS);
        self::assertSame($doc['route_context'], \Modules\ModuleConferenceLink\Lib\DialplanBuilder::ROUTE_CONTEXT);
    }

    /** The modules the worker checks are the ones the pages name, and the dialplan loads. */
    public function testTheFarEndModulesAreTheWorkers(): void
    {
        $modules = self::workerLimits()['far_end_modules'];
        self::assertSame($modules, \Modules\ModuleConferenceLink\App\Lib\LinkStatus::FAR_END_MODULES);
        self::assertSame([], array_diff($modules, \Modules\ModuleConferenceLink\Lib\DialplanBuilder::REQUIRED_MODULES));
    }

    /** Every range error the pages show states the limits the validator applies (en and ru). */
    public function testRangeMessagesStateTheLimits(): void
    {
        $top = dirname(__DIR__, 3);
        foreach (['en', 'ru'] as $lang) {
            $texts = require "{$top}/Messages/{$lang}.php";
            foreach (LinkValidator::LIMITS as $field => [$low, $high]) {
                $key = $field === 'test_call_seconds' ? 'module_conflink_error_test_seconds' : "module_conflink_error_{$field}_range";
                self::assertArrayHasKey($key, $texts, "{$lang}: no range message for {$field}");
                foreach ([$low, $high] as $bound) {
                    $number = LinkValidator::formatFloat((float)$bound);
                    self::assertMatchesRegularExpression('/(?<![0-9.])' . preg_quote($number, '/') . '(?![0-9])/u',
                        $texts[$key], "{$lang} {$key} does not say {$number}");
                }
            }
        }
    }

    public function testTheValidatorAppliesItsLimits(): void
    {
        $v = new LinkValidator(['r1' => '354233'], ['p1' => 'SIP-1']);
        $base = ['conference_uniqid' => 'r1', 'provider_uniqid' => 'p1', 'dst_number' => '100'];
        foreach (LinkValidator::LIMITS as $field => [$low, $high, $integer, $off]) {
            if (!in_array($field, LinkValidator::FIELDS, true)) {
                continue;
            }
            $over = $integer ? (string)($high + 1) : (string)($high + 0.5);
            $result = $v->check($base + [$field => $over]);
            self::assertArrayHasKey($field, $result->errors, "{$field} = {$over} accepted");
            $result = $v->check($base + [$field => (string)$high]);
            self::assertArrayNotHasKey($field, $result->errors, "{$field} = {$high} refused");
        }
    }

    public function testTheControlEndpointRuleIsTheWorkers(): void
    {
        $samples = ['tcp://127.0.0.1:7391', 'tcp://localhost:1', 'tcp://[::1]:65535', 'tcp://127.0.0.1:0',
            'tcp://127.0.0.1:65536', 'tcp://10.0.0.1:7391', 'tcp://127.0.0.1', 'ipc:///run/conflink.sock',
            'ipc:///', 'ipc://relative', 'ipc:///a b', 'ipc:///' . str_repeat('x', 99), 'ipc:///' . str_repeat('x', 100),
            'ipc:///tmp/x/', 'udp://127.0.0.1:1', '', "tcp://127.0.0.1:7391\n"];
        $env = getenv('CONFLINK_PYTHON');
        $venv = dirname(__DIR__, 3) . '/.venv/bin/python';
        $python = is_string($env) && $env !== '' ? $env : (is_executable($venv) ? $venv : 'python3');
        $code = 'import json, sys; sys.path.insert(0, sys.argv[1]); from conflink.config import control_endpoint_error; '
            . 'print(json.dumps([control_endpoint_error(s)[0] is not None for s in json.loads(sys.argv[2])]))';
        exec(escapeshellarg($python) . ' -c ' . escapeshellarg($code) . ' '
            . escapeshellarg(dirname(__DIR__, 3) . '/python-worker') . ' '
            . escapeshellarg(json_encode($samples, JSON_THROW_ON_ERROR)) . ' 2>&1', $out, $rc);
        self::assertSame(0, $rc, implode("\n", $out));
        $worker = json_decode(implode("\n", $out), true, 512, JSON_THROW_ON_ERROR);
        foreach ($samples as $i => $sample) {
            self::assertSame($worker[$i], ConfigRenderer::validControlEndpoint($sample), json_encode($sample));
        }
    }
}
