<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — links a MikoPBX conference room to an external party.
 */

namespace Modules\ModuleConferenceLink\App\Forms;

use MikoPBX\AdminCabinet\Forms\BaseForm;
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

        foreach (['conference_extension' => 'rooms', 'provider_uniqid' => 'providers'] as $name => $list) {
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
        ];
        foreach ($text as $name => $attributes) {
            $element = new Text($name, $attributes);
            // Defaults matter for a new link, where there is no entity to read from.
            $element->setDefault($values[$name]);
            $this->add($element);
        }

        $this->addCheckBox('redial_on_drop', $values['redial_on_drop'] === '1');
        $this->addCheckBox('enabled', $values['enabled'] === '1');

        // Core's addTextArea sizes the area from the value, else from the placeholder, and
        // warns when it has neither (an empty note): the placeholder is not optional here.
        $this->addTextArea('description', $values['description'], 80, [
            'maxlength' => 255,
            'placeholder' => $this->translation->_('module_conflink_description_placeholder'),
        ]);
    }
}
