<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 *
 * This program is free software: you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use MikoPBX\Core\System\Processes;
use MikoPBX\Core\System\System;
use MikoPBX\Core\System\SystemMessages;
use MikoPBX\Core\Workers\Cron\WorkerSafeScriptsCore;
use MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions\ReloadDialplanAction;
use MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions\ReloadManagerAction;
use MikoPBX\Core\Workers\WorkerModelsEvents;
use MikoPBX\Modules\Config\ConfigClass;
use MikoPBX\Modules\PbxExtensionUtils;
use Throwable;

/**
 * MikoPBX hooks of ModuleConferenceLink. Kept thin: the logic lives in plain classes
 * (DialplanBuilder, ManagerConfBuilder, ConfigRenderer, ChildSupervisor, WafExemptions). The REST API
 * is Lib/RestAPI (core discovers it), not the legacy moduleRestAPICallback.
 * Core calls hooks only while the module is enabled; the enable/disable hooks run twice
 * (once more from WorkerModelsEvents), so each of them is idempotent.
 */
class ConferenceLinkConf extends ConfigClass
{
    /** Set only by tests, which must not write to /etc or /var/run. */
    private static ?ModulePaths $pathsOverride = null;

    public static function usePaths(?ModulePaths $paths): void
    {
        self::$pathsOverride = $paths;
    }

    public static function paths(): ModulePaths
    {
        if (self::$pathsOverride !== null) {
            return self::$pathsOverride;
        }

        return ModulePaths::forPbx(
            PbxExtensionUtils::getModuleDir(ModulePaths::MODULE_ID),
            System::getLogDir()
        );
    }

    /**
     * The static `conflink-join` context: the same text `php bin/conflink-dialplan.php` prints.
     */
    public function extensionGenContexts(): string
    {
        return (new DialplanBuilder())->buildAll();
    }

    /**
     * Asterisk modules the join context needs that MikoPBX's modules.conf (autoload=no) does not
     * load: TALK_DETECT and WaitForCondition (DialplanBuilder::REQUIRED_MODULES).
     */
    public function generateModulesConf(): string
    {
        return DialplanBuilder::modulesConf();
    }

    /**
     * The module's own AMI user (localhost only, least privilege, filtered events).
     */
    public function generateManagerConf(): string
    {
        try {
            $settings = ConfigService::settings();
            return ManagerConfBuilder::section($settings['ami_username'], $settings['ami_secret']);
        } catch (Throwable $e) {
            // No user means the worker cannot log in; say why instead of writing a broken section.
            SystemMessages::sysLogMsg(ModulePaths::MODULE_ID, 'no AMI user written: ' . $e->getMessage(), LOG_ERR);
            return '';
        }
    }

    public function getModuleWorkers(): array
    {
        return [
            [
                'type'   => WorkerSafeScriptsCore::CHECK_BY_PID_NOT_ALERT,
                'worker' => WorkerConferenceLinkPy::class,
            ],
        ];
    }

    /**
     * Runs in WorkerModelsEvents (root) once per changed record: marks the worker config dirty
     * when the record can alter it (ModelChange, ConfigBatch); the push waits for the batch end.
     * A link row is pushed at once: core plans no reload action for the module's own tables, so
     * no modelsEventNeedReload may follow it. Settings reload the AMI users first (the worker
     * logs in with them), and the push follows that action's batch end.
     *
     * @param mixed $data {source, model, recordId, action, changedFields}
     */
    public function modelsEventChangeData($data): void
    {
        $change = ModelChange::fromMessage($data);
        if ($change === null) {
            return;
        }
        $batch = new ConfigBatch(self::paths());
        if (!$batch->note($change)) {
            return;
        }
        if ($change->kind === ModelChange::SETTINGS) {
            WorkerModelsEvents::invokeAction(ReloadManagerAction::class);
        } elseif ($change->kind === ModelChange::LINKS) {
            $batch->flush();
        }
    }

    /**
     * Runs in WorkerModelsEvents once per change batch, after core's reload actions: one
     * render and push for everything marked since the last one.
     *
     * @param array $plannedReloadActions core's actions of this batch (not needed: the mark says it)
     */
    public function modelsEventNeedReload(array $plannedReloadActions): void
    {
        (new ConfigBatch(self::paths()))->flush();
    }

    public function onAfterModuleEnable(): void
    {
        WorkerModelsEvents::invokeAction(ReloadManagerAction::class);
        WorkerModelsEvents::invokeAction(ReloadDialplanAction::class);
        (new ConfigService(self::paths()))->writeConfig();
        // 'start' leaves a running wrapper alone, so the second call is harmless.
        Processes::processPHPWorker(WorkerConferenceLinkPy::class, 'start', 'start');
    }

    public function onAfterModuleDisable(): void
    {
        WorkerModelsEvents::invokeAction(ReloadManagerAction::class);
        WorkerModelsEvents::invokeAction(ReloadDialplanAction::class);
        // Before core's killall, and whether or not it matches: wrapper and child by PID files.
        WorkerStop::stopAll(self::paths());
    }

    /**
     * After a PBX (re)start the config in /etc is gone; write it before the wrapper needs it.
     */
    public function onAfterPbxStarted(): void
    {
        (new ConfigService(self::paths()))->writeConfig();
    }

    /**
     * URIs that core's WAF must not body-scan (read by core's WafRegistry on 2026.2.118 and
     * later; older releases never call this). Link descriptions are free text ("weekly update
     * with sales, set up by IT" looks like SQL to the scan); LinkValidator stays the authority.
     *
     * @return array<string, list<string>>
     */
    public function getWafExemptions(): array
    {
        return WafExemptions::declared();
    }
}
