<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — links a MikoPBX conference room to an external party.
 */

namespace Modules\ModuleConferenceLink\App\Controllers;

use InvalidArgumentException;
use MikoPBX\AdminCabinet\Controllers\BaseController;
use MikoPBX\AdminCabinet\Providers\AssetProvider;
use MikoPBX\Common\Models\ConferenceRooms;
use MikoPBX\Common\Models\Sip;
use MikoPBX\Common\Providers\PBXCoreRESTClientProvider;
use Modules\ModuleConferenceLink\App\Forms\ModuleConferenceLinkForm;
use Modules\ModuleConferenceLink\App\Lib\DropdownOptions;
use Modules\ModuleConferenceLink\App\Lib\FormResponse;
use Modules\ModuleConferenceLink\App\Lib\LinkInput;
use Modules\ModuleConferenceLink\App\Lib\LinkRows;
use Modules\ModuleConferenceLink\App\Lib\LinkStatus;
use Modules\ModuleConferenceLink\App\Lib\PresetForm;
use Modules\ModuleConferenceLink\App\Lib\WorkerCommand;
use Modules\ModuleConferenceLink\App\Lib\WorkerReply;
use Modules\ModuleConferenceLink\Lib\EndpointResolver;
use Modules\ModuleConferenceLink\Lib\LinkValidator;
use Modules\ModuleConferenceLink\Models\ConferenceLinks;

/**
 * Admin pages of the module: list of links, link form, live status and call controls.
 *
 * Thin on purpose: data shaping lives in App/Lib (unit-tested), validation in the module's
 * Lib validator (the authority), and all call control goes to the worker through the
 * module's REST callback, which runs as root next to the worker.
 */
class ModuleConferenceLinkController extends BaseController
{
    private const MODULE_ID = 'ModuleConferenceLink';
    private const BASE_URL = 'module-conference-link/module-conference-link';
    private const REST_URL = '/pbxcore/api/modules/ModuleConferenceLink/';

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

    /** List of links; live state is filled in by the page script from statusAction. */
    public function indexAction(): void
    {
        $this->addAssets('module-conference-link-index.js');
        $rows = LinkRows::build(
            ConferenceLinks::find(['order' => 'id'])->toArray(),
            DropdownOptions::rooms($this->roomRows()),
            DropdownOptions::providers($this->providerRows())
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
            'rooms' => DropdownOptions::rooms($this->roomRows(), $values['conference_extension'], $missing),
            'providers' => DropdownOptions::providers($this->providerRows(), $values['provider_uniqid'], $missing),
        ];
        $this->view->form = new ModuleConferenceLinkForm(null, $options);
        $this->view->linkId = $options['id'];
        $this->view->presetUi = PresetForm::view(fn(string $key): string => $this->translation->_($key));
        $this->view->advancedOpen = PresetForm::advancedOpen($values);
        $this->view->testCallSeconds = WorkerCommand::TEST_CALL_DEFAULT;
        $this->view->testCallMin = WorkerCommand::TEST_CALL_MIN;
        $this->view->testCallMax = WorkerCommand::TEST_CALL_MAX;
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
            array_map('strval', array_column($this->roomRows(), 'extension')),
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

    /** Live state of every link (normalised, see LinkStatus). */
    public function statusAction(): void
    {
        $status = LinkStatus::fromWorkerReply($this->callWorker('status', WorkerCommand::status()));
        $this->setVars(['success' => $status['ok']] + $status);
    }

    public function dialAction(): void
    {
        $this->control('dial', fn(): array => WorkerCommand::dial($this->request->getPost('id')), 'module_conflink_DialSent');
    }

    public function hangupAction(): void
    {
        $this->control('hangup', fn(): array => WorkerCommand::hangup($this->request->getPost('id')), 'module_conflink_HangupSent');
    }

    public function testCallAction(): void
    {
        $this->control(
            'dial',
            fn(): array => WorkerCommand::testCall($this->request->getPost('id'), $this->request->getPost('seconds')),
            'module_conflink_TestCallSent'
        );
    }

    /**
     * @param callable(): array<string, string> $buildPayload throws InvalidArgumentException with an error key
     */
    private function control(string $action, callable $buildPayload, string $okKey): void
    {
        if (!$this->request->isPost()) {
            $this->setVars(['success' => false, 'message' => $this->translation->_('module_conflink_error_request')]);
            return;
        }
        try {
            $payload = $buildPayload();
        } catch (InvalidArgumentException $e) {
            $this->setVars(['success' => false, 'message' => $this->translation->_($e->getMessage())]);
            return;
        }
        $reply = $this->callWorker($action, $payload);
        $this->setVars(WorkerReply::forAction($reply, $this->translation->_($okKey)));
    }

    /**
     * @param array<string, string> $payload
     * @return array<string, mixed> the worker's reply, see WorkerReply
     */
    private function callWorker(string $action, array $payload): array
    {
        $result = $this->di->get(PBXCoreRESTClientProvider::SERVICE_NAME, [
            self::REST_URL . $action,
            PBXCoreRESTClientProvider::HTTP_METHOD_POST,
            $payload,
        ]);
        return WorkerReply::fromApiResult((bool)$result->success, $result->data ?? null, $result->messages ?? []);
    }

    /** @return list<array<string, mixed>> */
    private function roomRows(): array
    {
        return ConferenceRooms::find(['columns' => 'extension,name', 'order' => 'extension'])->toArray();
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
