<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Ui;

use Modules\ModuleConferenceLink\App\Lib\DropdownOptions;
use Modules\ModuleConferenceLink\App\Lib\FormResponse;
use Modules\ModuleConferenceLink\App\Lib\LinkInput;
use Modules\ModuleConferenceLink\App\Lib\LinkRows;
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
        $result = (new LinkValidator(['R' => '1'], ['P' => 'P']))->check(
            ['conference_uniqid' => 'R', 'provider_uniqid' => 'P'] + $values
        );
        self::assertSame('module_conflink_error_not_text', $result->errors['dst_number']);
    }

    public function testANewLinkStartsWithTheDocumentedDefaultsAndEmptyRequiredFields(): void
    {
        self::assertSame([
            'conference_uniqid'    => '',
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
            'room_keys'            => '*6',
            'max_call_minutes'     => '0',
            'daily_minutes'        => '0',
            'schedule'             => '',
            'schedule_end'         => 'linger',
            'announce'             => '0',
            'dial_via'             => 'provider',
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
        // Keys from the room: a new link starts with *6; '' saved by the admin means off; a
        // saved row from 0.1.0 (NULL, or the column default '') keeps them off.
        self::assertSame('*6', LinkInput::forForm([])['room_keys']);
        self::assertSame('*6', LinkInput::forForm(['room_keys' => null])['room_keys']);
        self::assertSame('', LinkInput::forForm(['room_keys' => ''])['room_keys']);
        self::assertSame('', LinkInput::forForm(['id' => '7', 'room_keys' => null])['room_keys']);
        self::assertSame('', LinkInput::forForm(['id' => 7])['room_keys']);
        self::assertSame('', LinkInput::forForm(['id' => '7', 'room_keys' => ''])['room_keys']);
        self::assertSame('*6', LinkInput::forForm(['id' => '7', 'room_keys' => '*6'])['room_keys']);
        self::assertSame('60', LinkInput::forForm(['id' => '7', 'ring_timeout' => null])['ring_timeout']);
        // A POST without the field takes the column default: a save never turns the keys on.
        self::assertSame('', LinkInput::fromPost([])['room_keys']);
        self::assertSame('', LinkInput::forForm(['schedule' => ''])['schedule']);
    }

    public function testRoomOptionsByUniqidInNumberOrderAndKeepAMissingCurrentValue(): void
    {
        $rows = [
            ['uniqid' => 'CONFERENCE-B', 'extension' => '200', 'name' => 'Board'],
            ['uniqid' => 'CONFERENCE-C', 'extension' => '30', 'name' => ''],
            ['uniqid' => 'CONFERENCE-X', 'extension' => '', 'name' => 'broken'],
            ['uniqid' => '', 'extension' => '40', 'name' => 'no id'],
            ['uniqid' => 'CONFERENCE-S', 'extension' => '100', 'name' => "Sales\nroom"],
        ];
        $options = DropdownOptions::rooms($rows, 'CONFERENCE-GONE', '(missing)');
        // The value is the room's uniqid (what a link stores); the admin sees name and number.
        self::assertSame(['CONFERENCE-C', 'CONFERENCE-S', 'CONFERENCE-B', 'CONFERENCE-GONE'], array_map('strval', array_keys($options)));
        self::assertSame('30', $options['CONFERENCE-C']);
        self::assertSame('Sales room <100>', $options['CONFERENCE-S']);
        self::assertSame('CONFERENCE-GONE (missing)', $options['CONFERENCE-GONE']);
        self::assertArrayNotHasKey('555', DropdownOptions::rooms([], ''));
        self::assertSame(['CONFERENCE-B' => '200', 'CONFERENCE-C' => '30', 'CONFERENCE-S' => '100'], DropdownOptions::roomNumbers($rows));
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
                ['id' => '9', 'conference_uniqid' => 'CONFERENCE-B', 'provider_uniqid' => 'SIP-A', 'dst_number' => '1', 'enabled' => '1'],
                ['id' => '3', 'conference_uniqid' => 'CONFERENCE-S', 'provider_uniqid' => 'SIP-GONE', 'dst_number' => '2', 'enabled' => '0'],
                ['id' => '4', 'conference_uniqid' => 'CONFERENCE-S', 'provider_uniqid' => '', 'dst_number' => '3', 'enabled' => '1', 'dial_via' => 'routes'],
            ],
            ['CONFERENCE-S' => 'Sales <100>', 'CONFERENCE-B' => 'Board <200>'],
            ['SIP-A' => 'Alpha'],
            ['CONFERENCE-S' => '100', 'CONFERENCE-B' => '200']
        );
        self::assertSame(['3', '4', '9'], array_column($rows, 'id'));
        self::assertSame([false, true, false], array_column($rows, 'routes'));
        self::assertFalse($rows[1]['provider_missing'], 'a routed link has no provider to miss');
        $rows = [$rows[0], $rows[2]];
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

    public function testAGenericErrorIsPrefixedWithItsFieldsLabel(): void
    {
        $texts = ['module_conflink_error_checkbox' => 'Invalid on/off value.', 'module_conflink_announce' => 'Announce'];
        $reply = FormResponse::invalid(
            ['announce' => 'module_conflink_error_checkbox', 'redial_on_drop' => 'module_conflink_error_checkbox'],
            static fn(string $key): string => $texts[$key] ?? $key
        );
        self::assertSame(['Announce: Invalid on/off value.', 'redial_on_drop: Invalid on/off value.'],
            $reply['message']['error']);
    }

    public function testSavedResponse(): void
    {
        self::assertSame(
            ['success' => true, 'reload' => 'module-conference-link/module-conference-link/modify/12'],
            FormResponse::saved('module-conference-link/module-conference-link/modify/{id}', '12')
        );
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
