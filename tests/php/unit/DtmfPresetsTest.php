<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\DtmfPresets;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use PHPUnit\Framework\TestCase;

/**
 * The preset builder against the shared samples (tests/js/fixtures/preset-cases.json; the JS
 * mirror runs the same file in tests/js/presets.test.js), plus what the samples cannot show:
 * every preset field and error is covered, the longest inputs still fit the worker's DTMF rule,
 * the error texts state the limits the builder enforces, and the CLI the lab tests use.
 */
final class DtmfPresetsTest extends TestCase
{
    private const FIXTURE = __DIR__ . '/../../js/fixtures/preset-cases.json';
    private const ROOT = __DIR__ . '/../../..';

    /** @return list<array<string, mixed>> */
    private static function cases(): array
    {
        $json = file_get_contents(self::FIXTURE);
        self::assertIsString($json, self::FIXTURE);
        return json_decode($json, true, 512, JSON_THROW_ON_ERROR)['cases'];
    }

    /** @return iterable<string, array{array<string, mixed>}> */
    public static function samples(): iterable
    {
        foreach (self::cases() as $i => $case) {
            yield sprintf('#%d %s %s', $i, $case['preset'], json_encode($case['fields'])) => [$case];
        }
    }

    /**
     * @dataProvider samples
     * @param array<string, mixed> $case
     */
    public function testSample(array $case): void
    {
        $result = DtmfPresets::build($case['preset'], $case['fields']);
        self::assertSame($case['errors'], $result->errors);
        self::assertSame($case['sequence'], $result->sequence);
        if ($result->sequence !== null) {
            self::assertMatchesRegularExpression(LinkValidator::DTMF_CANONICAL_RE, $result->sequence);
        }
    }

    public function testSamplesCoverEveryPresetFieldAndError(): void
    {
        $seen = [];
        $valid = [];
        foreach (self::cases() as $case) {
            foreach ($case['errors'] as $key) {
                $seen[$key] = true;
            }
            if ($case['sequence'] !== null) {
                $valid[$case['preset']] = true;
            }
        }
        $expected = [LinkValidator::ERROR_PREFIX . 'preset', LinkValidator::ERROR_PREFIX . 'dtmf_format'];
        foreach (DtmfPresets::PRESETS as $preset => $fields) {
            self::assertArrayHasKey($preset, $valid, "no valid sample for {$preset}");
            foreach ($fields as $field => [$required]) {
                $expected[] = LinkValidator::ERROR_PREFIX . "{$preset}_{$field}_format";
                if ($required) {
                    $expected[] = LinkValidator::ERROR_PREFIX . "{$preset}_{$field}_required";
                }
            }
        }
        sort($expected);
        $got = array_keys($seen);
        sort($got);
        self::assertSame($expected, $got, 'the samples must produce every error key, and no other');
    }

    public function testLongestInputOfEveryPresetFitsTheWorkersDtmfRule(): void
    {
        foreach (DtmfPresets::PRESETS as $preset => $fields) {
            if ($preset === DtmfPresets::CUSTOM) {
                continue; // its length is the dtmf rule itself (samples: 64 and 65 characters)
            }
            $input = [];
            foreach ($fields as $field => [, , $max]) {
                $input[$field] = str_repeat('9', $max);
            }
            $result = DtmfPresets::build($preset, $input);
            self::assertTrue($result->isValid(), $preset);
            self::assertMatchesRegularExpression(LinkValidator::DTMF_CANONICAL_RE, (string)$result->sequence, $preset);
            // Every field the preset asks for is sent after its own prompt.
            self::assertStringStartsWith('p', (string)$result->sequence, $preset);
            self::assertGreaterThanOrEqual(count($fields), substr_count((string)$result->sequence, 'p'), $preset);
        }
    }

    public function testEveryFormatErrorTextStatesTheLimitsInBothLanguages(): void
    {
        foreach (['en', 'ru'] as $lang) {
            $messages = require self::ROOT . "/Messages/{$lang}.php";
            foreach (DtmfPresets::PRESETS as $preset => $fields) {
                foreach ($fields as $field => [$required, $min, $max]) {
                    $key = LinkValidator::ERROR_PREFIX . "{$preset}_{$field}_format";
                    self::assertArrayHasKey($key, $messages, "{$lang}: {$key}");
                    self::assertStringContainsString((string)$max, $messages[$key], "{$lang}: {$key} must say the maximum");
                    if ($min > 1) {
                        self::assertStringContainsString((string)$min, $messages[$key], "{$lang}: {$key} must say the minimum");
                    }
                    foreach (["module_conflink_{$preset}_{$field}", "module_conflink_preset_{$preset}", "module_conflink_preset_{$preset}_help"] as $ui) {
                        self::assertNotEmpty($messages[$ui] ?? '', "{$lang}: {$ui}");
                    }
                    if ($required) {
                        self::assertNotEmpty($messages[LinkValidator::ERROR_PREFIX . "{$preset}_{$field}_required"] ?? '', "{$lang}: required text of {$preset} {$field}");
                    }
                }
            }
        }
    }

    public function testValidatorStoresTheBuiltSequenceAndOnlyTheUsedFields(): void
    {
        $validator = new LinkValidator(['CONFERENCE-1' => '354233'], ['SIP-1' => 'SIP-1']);
        $base = ['conference_uniqid' => 'CONFERENCE-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '84957776675'];

        $r = $validator->check($base + [
            'preset' => 'teams', 'meeting_id' => '123 456 789#', 'participant_id' => '77', 'passcode' => '1234',
            'dtmf' => 'ignored for a preset, even when invalid: ,,,',
        ]);
        self::assertSame([], $r->errors);
        self::assertSame('p123456789#p*p1234#', $r->values['dtmf']);
        self::assertSame(['teams', '123456789', '', '1234'], [$r->values['preset'], $r->values['meeting_id'], $r->values['participant_id'], $r->values['passcode']]);

        $r = $validator->check($base + ['preset' => 'custom', 'dtmf' => 'p 1#', 'meeting_id' => '123']);
        self::assertSame('p1#', $r->values['dtmf']);
        self::assertSame('', $r->values['meeting_id'], 'custom stores no named fields');

        $r = $validator->check($base + ['preset' => 'zoom', 'meeting_id' => ['1'], 'passcode' => 'x']);
        self::assertSame([
            'meeting_id' => 'module_conflink_error_not_text',
            'passcode' => 'module_conflink_error_zoom_passcode_format',
        ], $r->errors);
        self::assertSame([], $r->values, 'nothing is saved from an invalid row');

        $r = $validator->check($base + ['preset' => 'zoom', 'meeting_id' => '']);
        self::assertSame(['meeting_id' => 'module_conflink_error_zoom_meeting_id_required'], $r->errors);

        $r = $validator->check($base + ['preset' => 'msn']);
        self::assertSame(['preset' => 'module_conflink_error_preset'], $r->errors);
    }

    public function testARowFrom010ReadsAsCustomWithItsOldSequence(): void
    {
        $validator = new LinkValidator(['CONFERENCE-1' => '354233'], ['SIP-1' => 'SIP-1']);
        $old = ['conference_uniqid' => 'CONFERENCE-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '1', 'dtmf' => '354233#wW'];
        // Before core's migration (no such keys) and after one that left NULLs.
        foreach ([$old, $old + array_fill_keys(LinkValidator::NEW_IN_0_2, null)] as $row) {
            $r = $validator->check($row);
            self::assertSame([], $r->errors);
            self::assertSame('354233#wW', $r->values['dtmf']);
            self::assertSame('custom', $r->values['preset']);
            self::assertSame(['1', '20', 'auto', '0', '120'], [
                $r->values['prompt_silence'], $r->values['prompt_timeout'], $r->values['dtmf_mode'],
                $r->values['dead_air'], $r->values['end_cooldown'],
            ]);
        }
        // NULL stays an error in the old columns, as in 0.1.0.
        self::assertSame('module_conflink_error_not_text', $validator->check(['dtmf' => null] + $old)->errors['dtmf'] ?? null);
    }

    /** @return array{int, string, string} exit code, stdout, stderr */
    private static function cli(string ...$args): array
    {
        $proc = proc_open(
            array_merge([PHP_BINARY, self::ROOT . '/bin/conflink-preset.php'], $args),
            [1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes
        );
        self::assertIsResource($proc);
        $out = (string)stream_get_contents($pipes[1]);
        $err = (string)stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        return [proc_close($proc), $out, $err];
    }

    public function testCliPrintsTheBuiltSequence(): void
    {
        self::assertSame([0, "p123456789#p#p4321#\n", ''], self::cli('zoom', 'meeting_id=123456789', 'passcode=4321'));
        self::assertSame([0, "p1#p*p1234#\n", ''], self::cli('teams', 'meeting_id=1', 'passcode=1234'));
        self::assertSame([0, "\n", ''], self::cli('custom', 'dtmf='));
        self::assertSame([0, "12Aw#p\n", ''], self::cli('custom', 'dtmf=1 2 a w#p'));
    }

    public function testCliNamesBadFieldsAndRefusesUnknownOnes(): void
    {
        [$code, $out, $err] = self::cli('meet', 'meeting_id=12345678');
        self::assertSame([1, '', "meeting_id: module_conflink_error_meet_meeting_id_format\n"], [$code, $out, $err]);
        [$code, , $err] = self::cli('skype');
        self::assertSame([1, "preset: module_conflink_error_preset\n"], [$code, $err]);
        foreach ([['teams', 'participant_id=1'], ['zoom', 'meeting_id'], ['zoom', 'meeting_id=1', 'meeting_id=2'], []] as $args) {
            [$code, $out] = self::cli(...$args);
            self::assertSame([2, ''], [$code, $out], implode(' ', $args));
        }
    }
}
