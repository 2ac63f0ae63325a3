<?php

/*
 * What an administrator does on the Modules page, through Core's own REST actions (the code the
 * admin UI calls), one action per run like the PBX's separate API requests:
 *
 *   install <zip>        InstallFromPackageAction's install path (the upload itself is skipped):
 *                        Core's startModuleInstallation() — disable + uninstall with settings kept
 *                        when the module is already there — then Core's WorkerModuleInstaller
 *                        process unpacks the zip entry by entry and runs installModule()
 *   post-install         what WorkerApiCommands runs after its restart: re-enable if it was enabled
 *   enable | disable     EnableModuleAction::main / DisableModuleAction::main (→ PbxExtensionState)
 *   uninstall <0|1>      UninstallModuleAction::start, keepSettings 0 or 1
 *
 * Prints one JSON line: {"success":…, "messages":…, "data":…}.
 */

declare(strict_types=1);

require_once 'Globals.php';

use MikoPBX\PBXCoreREST\Lib\Modules\DisableModuleAction;
use MikoPBX\PBXCoreREST\Lib\Modules\EnableModuleAction;
use MikoPBX\PBXCoreREST\Lib\Modules\InstallFromPackageAction;
use MikoPBX\PBXCoreREST\Lib\Modules\ModuleInstallationBase;
use MikoPBX\PBXCoreREST\Lib\Modules\UninstallModuleAction;
use MikoPBX\PBXCoreREST\Lib\PBXApiResult;

const MODULE_ID = 'ModuleConferenceLink';

/** Core's install path minus the chunked-upload wait (the zip is already in place). */
final class RigInstallFromPackage extends InstallFromPackageAction
{
    /** @return array{0: mixed, 1: bool} */
    public function installUploaded(string $zip): array
    {
        return $this->installNewModule($zip);
    }
}

$action = $argv[1] ?? '';
$res    = new PBXApiResult();
switch ($action) {
    case 'install':
        [$messages, $ok] = (new RigInstallFromPackage('', $argv[2], 'rig'))->installUploaded($argv[2]);
        $res->success  = $ok;
        $res->messages = $messages instanceof PBXApiResult ? $messages->messages : (array)$messages;
        if ($messages instanceof PBXApiResult) {
            $res->data = $messages->data;
        }
        break;
    case 'post-install':
        ModuleInstallationBase::processModulePostInstallations();
        $res->success = true;
        break;
    case 'enable':
        $res = EnableModuleAction::main(MODULE_ID);
        break;
    case 'disable':
        $res = DisableModuleAction::main(MODULE_ID);
        break;
    case 'uninstall':
        $res = (new UninstallModuleAction('', MODULE_ID, ($argv[2] ?? '0') === '1'))->start();
        break;
    default:
        fwrite(STDERR, "module-admin.php: unknown action '{$action}'\n");
        exit(2);
}
echo json_encode(['success' => $res->success, 'messages' => $res->messages, 'data' => $res->data], JSON_UNESCAPED_SLASHES), "\n";
exit($res->success ? 0 : 1);
