<?php

/*
 * The Asterisk configuration Core writes for the enabled modules, made by Core's own generators:
 *   dialplan: InternalContexts' block of modules' contexts (Core's hookModulesMethod over every
 *             module's extensionGenContexts, with Core's comment wrapping) — the generator's
 *             method is private, so it is called through a bound closure;
 *   manager:  Core's ManagerConf::generateConfig(), the whole manager.conf it writes (its users,
 *             then every module's generateManagerConf), read back from Core's Asterisk etc folder.
 * Prints one JSON line: {"dialplan": "...", "manager": "..."}.
 */

declare(strict_types=1);

require_once 'Globals.php';

use MikoPBX\Core\Asterisk\Configs\Generators\Extensions\InternalContexts;
use MikoPBX\Core\Asterisk\Configs\ManagerConf;
use MikoPBX\Core\System\Directories;

$dialplan = (fn (): string => $this->generateAdditionalModulesContext())->call(new InternalContexts());
(new ManagerConf())->generateConfig();
$manager = (string)file_get_contents(Directories::getDir(Directories::AST_ETC_DIR) . '/manager.conf');
echo json_encode(['dialplan' => $dialplan, 'manager' => $manager], JSON_UNESCAPED_SLASHES), "\n";
