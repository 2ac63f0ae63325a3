<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — links a MikoPBX conference room to an external party.
 */

namespace Modules\ModuleConferenceLink\App\Controllers;

use MikoPBX\AdminCabinet\Controllers\BaseController;
use MikoPBX\AdminCabinet\Providers\AssetProvider;
use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\Sip;
use Modules\ModuleConferenceLink\App\Forms\ModuleConferenceLinkForm;
use Modules\ModuleConferenceLink\App\Lib\DropdownOptions;
use Modules\ModuleConferenceLink\App\Lib\FormResponse;
use Modules\ModuleConferenceLink\App\Lib\LinkInput;
use Modules\ModuleConferenceLink\App\Lib\LinkRows;
use Modules\ModuleConferenceLink\App\Lib\LinkStatus;
use Modules\ModuleConferenceLink\App\Lib\PresetForm;
use Modules\ModuleConferenceLink\Lib\EndpointResolver;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use Modules\ModuleConferenceLink\Lib\WafExemptions;
use Modules\ModuleConferenceLink\Models\ConferenceLinks;

/**
 * Admin pages of the module: list of links, link form, live status and call controls.
 *
 * Thin on purpose: data shaping lives in App/Lib (unit-tested), validation in the module's
 * Lib validator (the authority). Live state and call control are not here: the page scripts
 * call the module's REST v3 resource (Lib/RestAPI/Links), which runs as root next to the worker.
 */
class ModuleConferenceLinkController extends BaseController
{
    private const MODULE_ID = 'ModuleConferenceLink';
    private const BASE_URL = WafExemptions::ADMIN_BASE;

    public function initialize(): void
    {
        parent::initialize();
        if ($this->request->isAjax()) {
            // AJAX replies are the view variables as JSON: add nothing page-related to them.
            return;
        }
        $this->view->logoImagePath = $this->url->get() . 'assets/img/cache/' . self::MODULE_ID . '/logo.svg';
        // One plain "Save" button: the form stays on the link after saving. Set after
        // parent::initialize(), whose prepareView() sets submitMode = 'SaveSettings'.
        $this->view->submitMode = null;
    }

    /** List of links; live state is filled in by the page script from the REST status. */
    public function indexAction(): void
    {
        $this->addAssets('module-conference-link-index.js');
        $rows = LinkRows::build(
            ConferenceLinks::find(['order' => 'id'])->toArray(),
            DropdownOptions::rooms($this->roomRows()),
            DropdownOptions::providers($this->providerRows()),
            DropdownOptions::roomNumbers($this->roomRows())
        );
        $this->view->rows = LinkStatus::mergeIntoRows($rows, ['ok' => false, 'links' => []]);
        $this->view->baseUrl = self::BASE_URL;
        $this->view->pick('Modules/' . self::MODULE_ID . '/ModuleConferenceLink/index');
    }

    public function modifyAction(string $id = ''): void
    {
        $this->addAssets('module-conference-link-modify.js');
        $record = $id !== '' ? ConferenceLinks::findFirstById($id) : null;
        $values = LinkInput::forForm($record !== null ? $record->toArray() : []);
        $missing = $this->translation->_('module_conflink_Missing');
        $options = [
            'id' => $record !== null ? (string)$record->id : '',
            'values' => $values,
            'rooms' => DropdownOptions::rooms($this->roomRows(), $values['conference_uniqid'], $missing),
            'providers' => DropdownOptions::providers($this->providerRows(), $values['provider_uniqid'], $missing),
        ];
        $this->view->form = new ModuleConferenceLinkForm(null, $options);
        $this->view->linkId = $options['id'];
        $this->view->presetUi = PresetForm::view(fn(string $key): string => $this->translation->_($key));
        $this->view->advancedOpen = PresetForm::advancedOpen($values);
        $this->view->testCallSeconds = LinkValidator::TEST_CALL_DEFAULT;
        $this->view->testCallMin = LinkValidator::LIMITS['test_call_seconds'][0];
        $this->view->testCallMax = LinkValidator::LIMITS['test_call_seconds'][1];
        $this->view->baseUrl = self::BASE_URL;
        $this->view->pick('Modules/' . self::MODULE_ID . '/ModuleConferenceLink/modify');
    }

    public function saveAction(): void
    {
        if (!$this->request->isPost()) {
            $this->setVars(FormResponse::failed($this->translation->_('module_conflink_error_request')));
            return;
        }
        $post = $this->request->getPost();
        $validator = new LinkValidator(
            DropdownOptions::roomNumbers($this->roomRows()),
            EndpointResolver::activeProviderEndpoints($this->providerRows())
        );
        $result = $validator->check(['id' => $post['id'] ?? ''] + LinkInput::fromPost($post));
        if (!$result->isValid()) {
            $this->setVars(FormResponse::invalid($result->errors, fn(string $key): string => $this->translation->_($key)));
            return;
        }

        $id = $result->values['id'] ?? '';
        $record = $id !== '' ? ConferenceLinks::findFirstById($id) : new ConferenceLinks();
        if ($record === null) {
            // Deleted meanwhile in another tab: do not resurrect it under a new id.
            $this->setVars(FormResponse::failed($this->translation->_('module_conflink_error_link_id')));
            return;
        }
        foreach (LinkInput::fields() as $field) {
            $record->$field = $result->values[$field];
        }
        if ($record->save() === false) {
            $this->setVars(FormResponse::failed(implode(' ', array_map('strval', $record->getMessages()))));
            return;
        }
        $this->setVars(FormResponse::saved(self::BASE_URL . '/modify/{id}', (string)$record->id));
    }

    public function deleteAction(string $id = ''): void
    {
        $record = $id !== '' ? ConferenceLinks::findFirstById($id) : null;
        if ($record === null) {
            $this->setVars(FormResponse::failed($this->translation->_('module_conflink_error_link_id')));
            return;
        }
        $this->deleteEntity($record);
    }

    /** @return list<array<string, mixed>> */
    private function roomRows(): array
    {
        return ConferenceRooms::find(['columns' => 'uniqid,extension,name', 'order' => 'extension'])->toArray();
    }

    /** @return list<array<string, mixed>> */
    private function providerRows(): array
    {
        // Same filter core uses for the providers it configures (SIPConf).
        return Sip::find([
            "type = 'friend' AND disabled <> '1'",
            'columns' => 'uniqid,description,host,type,disabled,registration_type,username',
        ])->toArray();
    }

    private function addAssets(string $pageScript): void
    {
        $this->assets->collection(AssetProvider::HEADER_CSS)
            ->addCss('css/cache/' . self::MODULE_ID . '/module-conference-link.css', true);
        // Core's main/form.js (the Form object) is already on every page (AssetProvider's
        // footerPBXJS); loading it again would re-run it and reset Form.
        // js/cache/<ID> is Core's link to public/assets/js. The scripts are plain ES2017 that
        // browsers run as written, so they are served from src/ itself: a module installed
        // from the source tree and one installed from the zip load the same files.
        $js = 'js/cache/' . self::MODULE_ID . '/src/';
        $this->assets->collection(AssetProvider::FOOTER_JS)
            ->addJs($js . 'conference-link-presets.js', true)
            ->addJs($js . 'conference-link-rules.js', true)
            ->addJs($js . 'conference-link-status.js', true)
            ->addJs($js . $pageScript, true);
    }

    /** @param array<string, mixed> $vars */
    private function setVars(array $vars): void
    {
        foreach ($vars as $name => $value) {
            $this->view->setVar($name, $value);
        }
    }
}
