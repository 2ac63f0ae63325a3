<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Ui;

use InvalidArgumentException;
use Modules\ModuleConferenceLink\App\Lib\DropdownOptions;
use Modules\ModuleConferenceLink\App\Lib\FormResponse;
use Modules\ModuleConferenceLink\App\Lib\LinkInput;
use Modules\ModuleConferenceLink\App\Lib\LinkRows;
use Modules\ModuleConferenceLink\App\Lib\WorkerCommand;
use Modules\ModuleConferenceLink\App\Lib\WorkerReply;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use PHPUnit\Framework\TestCase;

final class UiHelpersTest extends TestCase
{
    public function testFromPostTrimsAndTurnsMissingCheckboxesIntoZero(): void
    {
        $values = LinkInput::fromPost([
            'dst_number' => " 123\n",
            'description' => "\u{00A0}x",
            'enabled' => 'on',
            'unknown' => 'ignored',
        ]);
        self::assertSame(LinkInput::fields(), array_keys($values));
        self::assertSame('123', $values['dst_number']);
        self::assertSame("\u{00A0}x", $values['description'], 'trim() leaves NBSP, as the JS twin does');
        self::assertSame('1', $values['enabled']);
        self::assertSame('0', $values['redial_on_drop'], 'an unchecked box is absent from the POST body');
        self::assertSame('5,15,30,60,120', $values['backoff']);
    }

    public function testFromPostPassesArraysThroughForTheValidatorToName(): void
    {
        $values = LinkInput::fromPost(['dst_number' => ['1', '2']]);
        self::assertSame(['1', '2'], $values['dst_number']);
        $result = (new LinkValidator(['1'], ['P' => 'P']))->check(
            ['conference_extension' => '1', 'provider_uniqid' => 'P'] + $values
        );
        self::assertSame('module_conflink_error_not_text', $result->errors['dst_number']);
    }

    public function testANewLinkStartsWithTheDocumentedDefaultsAndEmptyRequiredFields(): void
    {
        self::assertSame([
            'conference_extension' => '',
            'provider_uniqid'      => '',
            'dst_number'           => '',
            'dtmf'                 => '',
            'dtmf_delay'           => '1',
            'callerid'             => '',
            'ring_timeout'         => '60',
            'arm_delay'            => '0',
            'linger'               => '0',
            'max_attempts'         => '5',
            'backoff'              => '5,15,30,60,120',
            'redial_on_drop'       => '1',
            'enabled'              => '1',
            'description'          => '',
            'preset'               => 'custom',
            'meeting_id'           => '',
            'participant_id'       => '',
            'passcode'             => '',
            'prompt_silence'       => '1',
            'prompt_timeout'       => '20',
            'dtmf_mode'            => 'auto',
            'dead_air'             => '0',
            'end_cooldown'         => '120',
        ], LinkInput::defaults());
    }

    public function testForFormFillsDefaultsButKeepsEmptyOptionalText(): void
    {
        $values = LinkInput::forForm(['dtmf' => '', 'ring_timeout' => null, 'max_attempts' => '0', 'enabled' => '0']);
        self::assertSame('', $values['dtmf']);
        self::assertSame('60', $values['ring_timeout']);
        self::assertSame('0', $values['max_attempts']);
        self::assertSame('0', $values['enabled']);
        self::assertSame('1', LinkInput::forForm([])['enabled']);
    }

    public function testRoomOptionsSortedNaturallyAndKeepAMissingCurrentValue(): void
    {
        $options = DropdownOptions::rooms([
            ['extension' => '200', 'name' => 'Board'],
            ['extension' => '30', 'name' => ''],
            ['extension' => '', 'name' => 'broken'],
            ['extension' => '100', 'name' => "Sales\nroom"],
        ], '999', '(missing)');
        self::assertSame(['30', '100', '200', '999'], array_map('strval', array_keys($options)));
        self::assertSame('30', $options['30']);
        self::assertSame('Sales room <100>', $options['100']);
        self::assertSame('999 (missing)', $options['999']);
        self::assertArrayNotHasKey('555', DropdownOptions::rooms([], ''));
    }

    public function testProviderOptionsOnlyActiveSipProviders(): void
    {
        $rows = [
            ['uniqid' => 'SIP-B', 'type' => 'friend', 'disabled' => '0', 'description' => 'beta', 'host' => 'b.example'],
            ['uniqid' => 'SIP-A', 'type' => 'friend', 'disabled' => '0', 'description' => 'Alpha', 'host' => ''],
            ['uniqid' => 'SIP-OFF', 'type' => 'friend', 'disabled' => '1', 'description' => 'off'],
            ['uniqid' => '201', 'type' => 'peer', 'disabled' => '0', 'description' => 'a phone'],
        ];
        $options = DropdownOptions::providers($rows, 'SIP-OFF', '(missing)');
        self::assertSame(['SIP-A' => 'Alpha', 'SIP-B' => 'beta (b.example)', 'SIP-OFF' => 'SIP-OFF (missing)'], $options);
        self::assertSame(['SIP-A' => 'Alpha', 'SIP-B' => 'beta (b.example)'], DropdownOptions::providers($rows));
    }

    public function testListRows(): void
    {
        $rows = LinkRows::build(
            [
                ['id' => '9', 'conference_extension' => '200', 'provider_uniqid' => 'SIP-A', 'dst_number' => '1', 'enabled' => '1'],
                ['id' => '3', 'conference_extension' => '100', 'provider_uniqid' => 'SIP-GONE', 'dst_number' => '2', 'enabled' => '0'],
            ],
            ['100' => 'Sales <100>', '200' => 'Board <200>'],
            ['SIP-A' => 'Alpha']
        );
        self::assertSame(['3', '9'], array_column($rows, 'id'));
        self::assertSame('Sales <100>', $rows[0]['room_label']);
        self::assertTrue($rows[0]['provider_missing']);
        self::assertSame('SIP-GONE', $rows[0]['provider_label']);
        self::assertFalse($rows[0]['enabled']);
        self::assertFalse($rows[1]['room_missing']);
        self::assertSame('Alpha', $rows[1]['provider_label']);
    }

    public function testInvalidResponseCarriesBothErrorShapesEscaped(): void
    {
        $reply = FormResponse::invalid(
            ['dst_number' => 'module_conflink_error_number_format', 'dtmf' => 'untranslated_key'],
            static fn(string $key): string => $key === 'module_conflink_error_number_format' ? 'Bad <number>' : $key
        );
        self::assertFalse($reply['success']);
        self::assertSame('Bad &lt;number&gt;', $reply['messages']['error']['dst_number']);
        self::assertSame('untranslated_key (dtmf)', $reply['messages']['error']['dtmf']);
        self::assertSame(['Bad &lt;number&gt;', 'untranslated_key (dtmf)'], $reply['message']['error']);
    }

    public function testSavedResponse(): void
    {
        self::assertSame(
            ['success' => true, 'reload' => 'module-conference-link/module-conference-link/modify/12'],
            FormResponse::saved('module-conference-link/module-conference-link/modify/{id}', '12')
        );
    }

    public function testWorkerCommands(): void
    {
        self::assertSame(['id' => '7', 'force' => '0'], WorkerCommand::dial('7'));
        self::assertSame(['id' => '7'], WorkerCommand::hangup(7));
        self::assertSame(['id' => '7', 'force' => '1', 'seconds' => '30'], WorkerCommand::testCall('7', null));
        self::assertSame(['id' => '7', 'force' => '1', 'seconds' => '600'], WorkerCommand::testCall('7', '600'));
    }

    /** @return iterable<string, array{mixed, mixed}> */
    public static function badCommands(): iterable
    {
        yield 'id zero' => ['0', '30'];
        yield 'id with newline' => ["7\n", '30'];
        yield 'id injection' => ['7;hangup', '30'];
        yield 'id array' => [['7'], '30'];
        yield 'id null' => [null, '30'];
        yield 'seconds too short' => ['7', '4'];
        yield 'seconds too long' => ['7', '601'];
        yield 'seconds fraction' => ['7', '30.5'];
        yield 'seconds exponent' => ['7', '3e1'];
        yield 'seconds array' => ['7', ['30']];
    }

    /** @dataProvider badCommands */
    public function testBadCommandsAreRefused(mixed $id, mixed $seconds): void
    {
        $this->expectException(InvalidArgumentException::class);
        WorkerCommand::testCall($id, $seconds);
    }

    public function testWorkerReplyUnwrapping(): void
    {
        self::assertSame(['ok' => true, 'links' => []], WorkerReply::fromApiResult(true, ['ok' => true, 'links' => []], []));
        self::assertSame(
            ['ok' => false, 'error' => 'room is empty'],
            WorkerReply::fromApiResult(false, ['ok' => false, 'error' => 'room is empty'], ['error' => ['x']])
        );
        self::assertSame(['ok' => true, 'x' => 1], WorkerReply::fromApiResult(true, '{"ok":true,"x":1}', []));
        self::assertSame(
            ['ok' => false, 'error' => 'timeout; no answer'],
            WorkerReply::fromApiResult(false, [], ['error' => ["timeout\n", 'no answer']])
        );
        self::assertSame(['ok' => false, 'error' => 'worker_unreachable'], WorkerReply::fromApiResult(false, null, null));
        self::assertSame(['ok' => true], WorkerReply::fromApiResult(true, null, []));
        self::assertSame(
            ['success' => false, 'message' => 'room is empty'],
            WorkerReply::forAction(['ok' => false, 'error' => 'room is empty'], 'Dialling.')
        );
        self::assertSame(['success' => true, 'message' => 'Dialling.'], WorkerReply::forAction(['ok' => true], 'Dialling.'));
    }

    public function testPresetFormListsEveryPresetAndTheFieldsEachUses(): void
    {
        $view = \Modules\ModuleConferenceLink\App\Lib\PresetForm::view(static fn(string $key): string => "T:{$key}");
        self::assertSame(['zoom', 'teams', 'webex', 'meet', 'mts_link', 'pbx', 'custom'], array_keys($view['presets']));
        self::assertSame('T:module_conflink_preset_zoom_help', $view['presets']['zoom']['help']);
        self::assertSame(['meeting_id', 'participant_id', 'passcode'], array_keys($view['fields']));
        self::assertSame(['zoom', 'webex'], array_column($view['fields']['participant_id'], 'preset'));
        self::assertSame(['zoom', 'teams', 'webex', 'mts_link', 'pbx'], array_column($view['fields']['passcode'], 'preset'));
        self::assertSame(
            ['preset' => 'meet', 'label' => 'T:module_conflink_meet_meeting_id', 'required' => true],
            $view['fields']['meeting_id'][3]
        );
        self::assertFalse($view['fields']['passcode'][1]['required'], 'the Teams organizer PIN is optional');
    }

    public function testAdvancedSectionOpensOnlyForNonDefaultValues(): void
    {
        $defaults = LinkInput::defaults();
        self::assertFalse(\Modules\ModuleConferenceLink\App\Lib\PresetForm::advancedOpen($defaults));
        foreach (['prompt_silence' => '0.5', 'prompt_timeout' => '30', 'dtmf_mode' => 'inband', 'dead_air' => '60', 'end_cooldown' => '0'] as $field => $value) {
            self::assertTrue(\Modules\ModuleConferenceLink\App\Lib\PresetForm::advancedOpen([$field => $value] + $defaults), $field);
        }
    }
}
