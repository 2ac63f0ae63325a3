<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — links a MikoPBX conference room to an external party.
 */

namespace Modules\ModuleConferenceLink\App\Forms;

use MikoPBX\AdminCabinet\Forms\BaseForm;
use Modules\ModuleConferenceLink\Lib\DtmfPresets;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use Phalcon\Forms\Element\Hidden;
use Phalcon\Forms\Element\Select;
use Phalcon\Forms\Element\Text;

/**
 * The link form. Values come prepared from the controller (LinkInput::forForm) and the
 * dropdown options from DropdownOptions, so this class only declares elements.
 * Length caps mirror the validator; the validator still has the last word.
 */
class ModuleConferenceLinkForm extends BaseForm
{
    /**
     * @param mixed $entity unused: the controller passes prepared values instead of the record,
     *                      so new and existing links render the same way
     * @param array{id: string, values: array<string, string>, rooms: array<int|string, string>, providers: array<int|string, string>} $options
     */
    public function initialize($entity = null, $options = null): void
    {
        parent::initialize($entity, $options);
        $values = $options['values'];

        $id = new Hidden('id');
        $id->setDefault($options['id']);
        $this->add($id);

        foreach (['conference_uniqid' => 'rooms', 'provider_uniqid' => 'providers'] as $name => $list) {
            $select = new Select($name, $options[$list], [
                'useEmpty' => true,
                'emptyText' => '-',
                'emptyValue' => '',
                'class' => 'ui selection search dropdown',
            ]);
            $select->setDefault($values[$name]);
            $this->add($select);
        }

        $text = [
            'dst_number' => ['maxlength' => 32, 'placeholder' => '84957776675', 'inputmode' => 'tel'],
            'dtmf' => ['maxlength' => 64, 'placeholder' => '354233#', 'autocomplete' => 'off'],
            'dtmf_delay' => ['maxlength' => 10, 'placeholder' => '1', 'inputmode' => 'decimal'],
            'callerid' => ['maxlength' => 32, 'inputmode' => 'tel'],
            'ring_timeout' => ['maxlength' => 3, 'placeholder' => '60', 'inputmode' => 'numeric'],
            'arm_delay' => ['maxlength' => 10, 'placeholder' => '0', 'inputmode' => 'decimal'],
            'linger' => ['maxlength' => 10, 'placeholder' => '0', 'inputmode' => 'decimal'],
            'max_attempts' => ['maxlength' => 3, 'placeholder' => '5', 'inputmode' => 'numeric'],
            'backoff' => ['maxlength' => 200, 'placeholder' => '5,15,30,60,120'],
            // Named fields of the dial-in presets: digits, spaces allowed ("123 4567 8901").
            'meeting_id' => ['maxlength' => 32, 'inputmode' => 'numeric', 'autocomplete' => 'off'],
            'participant_id' => ['maxlength' => 32, 'inputmode' => 'numeric', 'autocomplete' => 'off'],
            'passcode' => ['maxlength' => 32, 'inputmode' => 'numeric', 'autocomplete' => 'off'],
            'prompt_silence' => ['maxlength' => 10, 'placeholder' => '1', 'inputmode' => 'decimal'],
            'prompt_timeout' => ['maxlength' => 10, 'placeholder' => '20', 'inputmode' => 'decimal'],
            'dead_air' => ['maxlength' => 4, 'placeholder' => '60', 'inputmode' => 'numeric'],
            'end_cooldown' => ['maxlength' => 4, 'placeholder' => '120', 'inputmode' => 'numeric'],
            'room_keys' => ['maxlength' => 16, 'placeholder' => '*6', 'autocomplete' => 'off'],
            'max_call_minutes' => ['maxlength' => 4, 'placeholder' => '0', 'inputmode' => 'numeric'],
            'daily_minutes' => ['maxlength' => 4, 'placeholder' => '0', 'inputmode' => 'numeric'],
        ];
        foreach ($text as $name => $attributes) {
            $element = new Text($name, $attributes);
            // Defaults matter for a new link, where there is no entity to read from.
            $element->setDefault($values[$name]);
            $this->add($element);
        }

        $t = fn(string $key): string => $this->translation->_($key);
        $presets = [];
        foreach (DtmfPresets::names() as $name) {
            $presets[$name] = $t("module_conflink_preset_{$name}");
        }
        $modes = [];
        foreach (LinkValidator::DTMF_MODES as $mode) {
            $modes[$mode] = $t("module_conflink_dtmf_mode_{$mode}");
        }
        // dead_air_policy is the page's switch for dead_air (off = 0); it is not stored.
        $policies = ['off' => $t('module_conflink_dead_air_off'), 'redial' => $t('module_conflink_dead_air_redial')];
        $selects = [
            'preset' => [$presets, $values['preset']],
            'dtmf_mode' => [$modes, $values['dtmf_mode']],
            'dead_air_policy' => [$policies, $values['dead_air'] === '0' ? 'off' : 'redial'],
            'dial_via' => [[
                'provider' => $t('module_conflink_dial_via_provider'),
                'routes' => $t('module_conflink_dial_via_routes'),
            ], $values['dial_via']],
            'schedule_end' => [[
                'linger' => $t('module_conflink_schedule_end_linger'),
                'keep' => $t('module_conflink_schedule_end_keep'),
            ], $values['schedule_end']],
        ];
        foreach ($selects as $name => [$choices, $current]) {
            $select = new Select($name, $choices, ['class' => 'ui selection dropdown']);
            $select->setDefault($current);
            $this->add($select);
        }

        $this->addCheckBox('redial_on_drop', $values['redial_on_drop'] === '1');
        $this->addCheckBox('enabled', $values['enabled'] === '1');
        $this->addCheckBox('announce', $values['announce'] === '1');

        // Core's addTextArea sizes the area from the value, else from the placeholder, and
        // warns when it has neither (an empty note): the placeholder is not optional here.
        $this->addTextArea('schedule', $values['schedule'], 40, [
            'maxlength' => 400,
            'placeholder' => 'mon-fri 08:00-18:00',
        ]);
        $this->addTextArea('description', $values['description'], 80, [
            'maxlength' => 255,
            'placeholder' => $this->translation->_('module_conflink_description_placeholder'),
        ]);
    }
}
