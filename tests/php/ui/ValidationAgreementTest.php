<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Ui;

use Modules\ModuleConferenceLink\Lib\LinkValidator;
use PHPUnit\Framework\TestCase;

/**
 * The server-side validator against the samples shared with the JS rules
 * (tests/js/fixtures/validation-cases.json; tests/js/rules-agreement.test.js runs the
 * JS side). Each case overrides one field of a valid base row.
 */
final class ValidationAgreementTest extends TestCase
{
    private const FIXTURE = __DIR__ . '/../../js/fixtures/validation-cases.json';

    /** @return array<string, mixed> */
    private static function fixture(): array
    {
        $json = file_get_contents(self::FIXTURE);
        self::assertIsString($json, 'fixture missing: ' . self::FIXTURE);
        return json_decode($json, true, 512, JSON_THROW_ON_ERROR);
    }

    private static function validator(array $fixture): LinkValidator
    {
        return new LinkValidator($fixture['context']['rooms'], $fixture['context']['providers']);
    }

    public function testBaseRowIsValid(): void
    {
        $fixture = self::fixture();
        $result = self::validator($fixture)->check($fixture['base']);
        self::assertSame([], $result->errors);
    }

    /** @return iterable<string, array{array<string, mixed>}> */
    public static function cases(): iterable
    {
        $fixture = self::fixture();
        foreach ($fixture['cases'] as $i => $case) {
            $value = isset($case['repeat']) ? str_repeat($case['value'], $case['repeat']) : $case['value'];
            $shown = is_string($value) && strlen($value) > 40
                ? json_encode(substr($value, 0, 20)) . '… (' . strlen($value) . ' bytes)'
                : json_encode($value, JSON_UNESCAPED_UNICODE);
            yield sprintf('#%d %s = %s', $i, $case['field'], $shown) => [$case + ['sample' => $value]];
        }
    }

    /**
     * @dataProvider cases
     * @param array<string, mixed> $case
     */
    public function testSameVerdictAsJs(array $case): void
    {
        $fixture = self::fixture();
        $row = ($case['with'] ?? []) + $fixture['base'];
        $row[$case['field']] = $case['sample'];
        $result = self::validator($fixture)->check($row);
        self::assertSame($case['error'], $result->errors[$case['field']] ?? null);
        $others = $result->errors;
        unset($others[$case['field']]);
        self::assertSame([], $others, 'only the overridden field may fail');
    }
}
