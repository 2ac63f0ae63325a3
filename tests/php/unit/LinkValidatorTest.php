<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\LinkValidator;
use PHPUnit\Framework\TestCase;

final class LinkValidatorTest extends TestCase
{
    private const BASE = [
        'conference_uniqid'    => 'CONFERENCE-354233',
        'provider_uniqid'      => 'SIP-1601534775',
        'dst_number'           => '84957776675',
    ];

    private static function validator(): LinkValidator
    {
        return new LinkValidator(
            ['CONFERENCE-354233' => '354233', 'CONFERENCE-0' => '0354233', 'CONFERENCE-200' => '200', '42' => '4200', 'CONFERENCE-BAD' => '35a'],
            ['SIP-1601534775' => 'SIP-1601534775', 'SIP-TRUNK-INB' => 'trunkuser', 'SIP-BROKEN' => '']
        );
    }

    private static function check(array $override): \Modules\ModuleConferenceLink\Lib\ValidationResult
    {
        return self::validator()->check($override + self::BASE);
    }

    public function testMinimalRowGetsDefaults(): void
    {
        $r = self::validator()->check(self::BASE);
        self::assertTrue($r->isValid(), json_encode($r->errors));
        self::assertSame([
            'conference_uniqid'    => 'CONFERENCE-354233',
            'provider_uniqid'      => 'SIP-1601534775',
            'dst_number'           => '84957776675',
            'dtmf'                 => '',
            'callerid'             => '',
            'dtmf_delay'           => '1',
            'arm_delay'            => '0',
            'linger'               => '0',
            'ring_timeout'         => '60',
            'max_attempts'         => '5',
            'backoff'              => '5,15,30,60,120',
            'redial_on_drop'       => '1',
            'enabled'              => '1',
            'description'          => '',
        ], array_diff_key($r->values, array_flip(LinkValidator::NEW_IN_0_2)));
        // The 0.2.0 columns take defaults that keep 0.1.0 behaviour: custom, today's timing,
        // no keys forwarded from the room.
        $new = [];
        foreach (LinkValidator::NEW_IN_0_2 as $column) {
            $new[$column] = $r->values[$column] ?? null;
        }
        self::assertSame([
            'preset' => 'custom', 'meeting_id' => '', 'participant_id' => '', 'passcode' => '',
            'prompt_silence' => '1', 'prompt_timeout' => '20', 'dtmf_mode' => 'auto',
            'dead_air' => '0', 'end_cooldown' => '120', 'room_keys' => '',
            'max_call_minutes' => '0', 'daily_minutes' => '0', 'schedule' => '', 'schedule_end' => 'linger',
            'announce' => '0', 'dial_via' => 'provider',
        ], $new);
    }

    public function testFullRowIsNormalised(): void
    {
        $r = self::check([
            'id'             => '7',
            'dtmf'           => ' 1 2 3 # w W a b c d ',
            'dtmf_delay'     => '01.50',
            'callerid'       => '+74951234567',
            'ring_timeout'   => '030',
            'arm_delay'      => '2.250',
            'linger'         => '3600',
            'max_attempts'   => '0',
            'backoff'        => '5, 15 ,30.5',
            'redial_on_drop' => 'off',
            'enabled'        => true,
            'description'    => 'Zoom «weekly» — room 1',
            'csrf_token'     => 'ignored',
        ]);
        self::assertTrue($r->isValid(), json_encode($r->errors));
        self::assertSame('7', $r->values['id']);
        self::assertSame('123#wWABCD', $r->values['dtmf']);
        self::assertSame('1.5', $r->values['dtmf_delay']);
        self::assertSame('30', $r->values['ring_timeout']);
        self::assertSame('2.25', $r->values['arm_delay']);
        self::assertSame('3600', $r->values['linger']);
        self::assertSame('0', $r->values['max_attempts']);
        self::assertSame('5,15,30.5', $r->values['backoff']);
        self::assertSame('0', $r->values['redial_on_drop']);
        self::assertSame('1', $r->values['enabled']);
        self::assertArrayNotHasKey('csrf_token', $r->values);
    }

    public function testInvalidRowHasNoValues(): void
    {
        $r = self::check(['dst_number' => 'x']);
        self::assertFalse($r->isValid());
        self::assertSame([], $r->values, 'nothing of an invalid row may be stored');
    }

    /** @return iterable<string, array{string, mixed, ?string}> field, value, expected error key (null = valid) */
    public static function fieldCases(): iterable
    {
        $e = 'module_conflink_error_';
        // conference_uniqid: the room by its id; its number must suit ConfBridge
        yield 'room ok' => ['conference_uniqid', 'CONFERENCE-200', null];
        yield 'room with a leading-zero number' => ['conference_uniqid', 'CONFERENCE-0', null];
        yield 'room empty' => ['conference_uniqid', '', $e . 'room_required'];
        yield 'room NULL (migrated without a room)' => ['conference_uniqid', null, $e . 'room_required'];
        yield 'room by its number, not its id' => ['conference_uniqid', '354233', $e . 'room_unknown'];
        yield 'room unknown' => ['conference_uniqid', 'CONFERENCE-999', $e . 'room_unknown'];
        yield 'room number not digits' => ['conference_uniqid', 'CONFERENCE-BAD', $e . 'room_format'];
        yield 'room pattern' => ['conference_uniqid', '_X!', $e . 'room_unknown'];
        yield 'room numeric id as int' => ['conference_uniqid', 42, null];
        // provider_uniqid
        yield 'provider inbound' => ['provider_uniqid', 'SIP-TRUNK-INB', null];
        yield 'provider empty' => ['provider_uniqid', '', $e . 'provider_required'];
        yield 'provider unknown' => ['provider_uniqid', 'SIP-NOPE', $e . 'provider_unknown'];
        yield 'provider unnamed endpoint' => ['provider_uniqid', 'SIP-BROKEN', $e . 'provider_endpoint'];
        // dst_number
        yield 'number plus' => ['dst_number', '+4930123', null];
        yield 'number star hash' => ['dst_number', '*77#', null];
        yield 'number leading zero' => ['dst_number', '0354233', null];
        yield 'number 32' => ['dst_number', str_repeat('9', 32), null];
        yield 'number 33' => ['dst_number', str_repeat('9', 33), $e . 'number_format'];
        yield 'number empty' => ['dst_number', '', $e . 'number_required'];
        yield 'number space' => ['dst_number', '8495 777', $e . 'number_format'];
        yield 'number dash' => ['dst_number', '8-495', $e . 'number_format'];
        yield 'number at' => ['dst_number', '100@other', $e . 'number_format'];
        yield 'number slash' => ['dst_number', '100/PJSIP', $e . 'number_format'];
        // dtmf
        yield 'dtmf empty' => ['dtmf', '', null];
        yield 'dtmf 64' => ['dtmf', str_repeat('1', 64), null];
        yield 'dtmf 65' => ['dtmf', str_repeat('1', 65), $e . 'dtmf_format'];
        yield 'dtmf E' => ['dtmf', '12E', $e . 'dtmf_format'];
        yield 'dtmf e lower' => ['dtmf', '12e', $e . 'dtmf_format'];
        yield 'dtmf tab' => ['dtmf', "1\t2", $e . 'dtmf_format'];
        yield 'dtmf comma' => ['dtmf', '1,2', $e . 'dtmf_format'];
        // dtmf_delay
        yield 'delay 0' => ['dtmf_delay', '0', null];
        yield 'delay 60' => ['dtmf_delay', '60', null];
        yield 'delay 60.001' => ['dtmf_delay', '60.001', $e . 'dtmf_delay_range'];
        yield 'delay negative' => ['dtmf_delay', '-1', $e . 'dtmf_delay_range'];
        yield 'delay comma decimal' => ['dtmf_delay', '1,5', $e . 'dtmf_delay_range'];
        yield 'delay exponent' => ['dtmf_delay', '1e1', $e . 'dtmf_delay_range'];
        yield 'delay 4 decimals' => ['dtmf_delay', '1.2345', $e . 'dtmf_delay_range'];
        yield 'delay leading dot' => ['dtmf_delay', '.5', $e . 'dtmf_delay_range'];
        yield 'delay empty' => ['dtmf_delay', '', $e . 'dtmf_delay_range'];
        yield 'delay float' => ['dtmf_delay', 2.5, null];
        yield 'delay NAN' => ['dtmf_delay', NAN, $e . 'dtmf_delay_range'];
        yield 'delay INF' => ['dtmf_delay', INF, $e . 'dtmf_delay_range'];
        // callerid
        yield 'callerid empty' => ['callerid', '', null];
        yield 'callerid plus' => ['callerid', '+7495', null];
        yield 'callerid name' => ['callerid', '"Office" <100>', $e . 'callerid_format'];
        yield 'callerid 33' => ['callerid', str_repeat('1', 33), $e . 'callerid_format'];
        yield 'callerid star' => ['callerid', '*1', $e . 'callerid_format'];
        // ring_timeout
        yield 'ring 5' => ['ring_timeout', '5', null];
        yield 'ring 300' => ['ring_timeout', '300', null];
        yield 'ring 4' => ['ring_timeout', '4', $e . 'ring_timeout_range'];
        yield 'ring 301' => ['ring_timeout', '301', $e . 'ring_timeout_range'];
        yield 'ring decimal' => ['ring_timeout', '30.5', $e . 'ring_timeout_range'];
        yield 'ring int' => ['ring_timeout', 45, null];
        // arm_delay / linger
        yield 'arm 3600' => ['arm_delay', '3600', null];
        yield 'arm 3600.5' => ['arm_delay', '3600.5', $e . 'arm_delay_range'];
        yield 'arm word' => ['arm_delay', 'soon', $e . 'arm_delay_range'];
        yield 'linger 0.5' => ['linger', '0.5', null];
        yield 'linger 99999' => ['linger', '99999', $e . 'linger_range'];
        // max_attempts
        yield 'attempts 100' => ['max_attempts', '100', null];
        yield 'attempts 101' => ['max_attempts', '101', $e . 'max_attempts_range'];
        yield 'attempts negative' => ['max_attempts', '-1', $e . 'max_attempts_range'];
        // backoff
        yield 'backoff one' => ['backoff', '1', null];
        yield 'backoff twenty' => ['backoff', implode(',', array_fill(0, 20, '5')), null];
        yield 'backoff 21' => ['backoff', implode(',', array_fill(0, 21, '5')), $e . 'backoff_format'];
        yield 'backoff empty' => ['backoff', '', $e . 'backoff_format'];
        yield 'backoff empty item' => ['backoff', '5,,15', $e . 'backoff_format'];
        yield 'backoff trailing comma' => ['backoff', '5,15,', $e . 'backoff_format'];
        yield 'backoff zero' => ['backoff', '0,5', $e . 'backoff_range'];
        yield 'backoff 0.5' => ['backoff', '0.5', $e . 'backoff_range'];
        yield 'backoff 3601' => ['backoff', '5,3601', $e . 'backoff_range'];
        yield 'backoff semicolons' => ['backoff', '5;15', $e . 'backoff_format'];
        yield 'backoff brackets' => ['backoff', '[5, 15]', $e . 'backoff_format'];
        // checkboxes
        yield 'enabled 0' => ['enabled', '0', null];
        yield 'enabled on' => ['enabled', 'on', null];
        yield 'enabled false' => ['enabled', false, null];
        yield 'enabled maybe' => ['enabled', 'maybe', $e . 'checkbox'];
        yield 'enabled 2' => ['enabled', 2, $e . 'checkbox'];
        yield 'enabled null' => ['enabled', null, $e . 'checkbox'];
        yield 'redial array' => ['redial_on_drop', ['1'], $e . 'checkbox'];
        // description
        yield 'description unicode' => ['description', 'Совещание 会议 🎉', null];
        yield 'description 255' => ['description', str_repeat('я', 255), null];
        yield 'description 256' => ['description', str_repeat('я', 256), $e . 'description_too_long'];
        yield 'description newline' => ['description', "a\nb", $e . 'description_chars'];
        yield 'description CR' => ['description', "a\rb", $e . 'description_chars'];
        yield 'description tab' => ['description', "a\tb", $e . 'description_chars'];
        yield 'description NUL' => ['description', "a\0b", $e . 'description_chars'];
        yield 'description C1' => ['description', "a\u{0085}b", $e . 'description_chars'];
        yield 'description bad utf8' => ['description', "a\xC3\x28", $e . 'description_chars'];
        yield 'description quotes ok' => ['description', 'say "hi" ; ) ${X} |', null];
        // id
        yield 'id 1' => ['id', '1', null];
        yield 'id empty = new' => ['id', '', null];
        yield 'id zero' => ['id', '0', $e . 'id'];
        yield 'id sql' => ['id', '1 OR 1=1', $e . 'id'];
        yield 'id negative' => ['id', -3, $e . 'id'];
    }

    /** @dataProvider fieldCases */
    public function testField(string $field, mixed $value, ?string $error): void
    {
        $r = self::check([$field => $value]);
        self::assertSame($error, $r->errors[$field] ?? null, json_encode($r->errors));
        $others = $r->errors;
        unset($others[$field]);
        self::assertSame([], $others, 'only the field under test may fail');
    }

    /** @return iterable<string, array{string}> */
    public static function injections(): iterable
    {
        yield 'newline' => ["100\nexten => s,1,System(id)"];
        yield 'trailing newline' => ["100\n"];
        yield 'CR' => ["100\r"];
        yield 'comma' => ['100,1'];
        yield 'semicolon' => ['100;x'];
        yield 'paren' => ['100)'];
        yield 'var' => ['${SHELL(id)}'];
        yield 'pipe' => ['100|id'];
        yield 'ampersand' => ['100&PJSIP/200'];
        yield 'quote' => ['100"'];
        yield 'NUL' => ["100\0"];
        yield 'unicode digits' => ['١٢٣'];
        yield 'fullwidth digits' => ['１２３'];
        yield 'space' => [' 100'];
        yield 'yaml' => ['100: x'];
        yield '10 kB' => [str_repeat('1', 10240)];
    }

    /** @dataProvider injections */
    public function testInjectionRejectedInEveryStrictField(string $payload): void
    {
        $fields = [
            'conference_uniqid', 'provider_uniqid', 'dst_number', 'dtmf', 'dtmf_delay', 'callerid',
            'ring_timeout', 'arm_delay', 'linger', 'max_attempts', 'backoff',
        ];
        // Where the payload is legitimately part of the field's syntax.
        $legit = ['100,1' => ['backoff'], ' 100' => ['dtmf', 'backoff']];
        foreach (array_diff($fields, $legit[$payload] ?? []) as $field) {
            $r = self::check([$field => $payload]);
            self::assertArrayHasKey($field, $r->errors, "{$field} accepted " . json_encode($payload));
            self::assertSame([], $r->values);
        }
    }

    public function testTenKilobyteDescriptionRefusedEarly(): void
    {
        $r = self::check(['description' => str_repeat('a', 10240)]);
        self::assertSame('module_conflink_error_too_long', $r->errors['description']);
    }

    public function testNonStringsRefused(): void
    {
        foreach (['dst_number', 'dtmf', 'description', 'backoff'] as $field) {
            $r = self::check([$field => ['1']]);
            self::assertSame('module_conflink_error_not_text', $r->errors[$field]);
            $r = self::check([$field => new \stdClass()]);
            self::assertSame('module_conflink_error_not_text', $r->errors[$field]);
        }
    }

    public function testEveryErrorKeyIsDocumentedAtTheTopOfTheValidator(): void
    {
        $source = file_get_contents(dirname(__DIR__, 3) . '/Lib/LinkValidator.php');
        preg_match_all("/self::ERROR_PREFIX \\. '([a-z_]+)'/", $source, $used);
        preg_match_all("/=> \\[[0-9.]+, [0-9.]+, '([a-z_]+)'\\]/", $source, $ranges);
        $keys = array_unique(array_merge($used[1], $ranges[1]));
        self::assertGreaterThan(15, count($keys));
        foreach ($keys as $key) {
            self::assertMatchesRegularExpression('/^ \*   module_conflink_error_' . $key . '\s/m', $source, "undocumented key {$key}");
        }
    }

    public function testDtmfNormaliser(): void
    {
        self::assertSame('123#ABCDwW*', LinkValidator::normaliseDtmf('1 2 3 # a b c d w W *'));
        self::assertSame('', LinkValidator::normaliseDtmf(''));
        self::assertSame('', LinkValidator::normaliseDtmf('   '));
        self::assertNull(LinkValidator::normaliseDtmf('1 2 x'));
        self::assertNull(LinkValidator::normaliseDtmf("1\n"));
        self::assertMatchesRegularExpression(LinkValidator::DTMF_CANONICAL_RE, LinkValidator::normaliseDtmf('abcd wW 09*#'));
    }

    public function testDecimalFormatting(): void
    {
        self::assertSame('0', LinkValidator::formatFloat(0.0));
        self::assertSame('1', LinkValidator::formatFloat(1.0));
        self::assertSame('0.25', LinkValidator::formatFloat(0.25));
        self::assertSame('3600', LinkValidator::formatFloat(3600.0));
        self::assertSame('1.5', LinkValidator::canonicalDecimal('001.500', 0, 60));
    }
}
