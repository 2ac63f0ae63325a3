<?php

/*
 * Core's WorkerModelsEvents, run over what is waiting in its beanstalk tube, as on a PBX: each
 * job goes through the worker's own subscribe/wait/processModelChanges (reload actions planned,
 * modules' modelsEventChangeData called), and the first idle wait ends the batch through its own
 * timeoutHandler (planned reload actions executed, modules' modelsEventNeedReload called).
 * Bridge: the worker's setup methods are private (start() would loop forever), so they are
 * called through a bound closure.
 * Stand-in: Core's reload actions (ReloadDialplanAction, ReloadPJSIPAction, ... the classes the
 * worker lists) regenerate and reload the PBX's own services — the whole Asterisk config, nginx,
 * certificates, firewall — which the rig has not (one batch took 100 s failing at them). Each is
 * replaced, before it could be loaded, by a class that records its run in <session>/reload-actions.log.
 * Planning, ordering, batching and the module hooks stay Core's.
 *
 * Prints one JSON line: {"jobs": <number processed>, "planned": [...], "executed": [...]}.
 */

declare(strict_types=1);

require_once 'Globals.php';

use MikoPBX\Core\Workers\WorkerModelsEvents;

$session = json_decode((string)file_get_contents(__DIR__ . '/session.json'), true);
$record  = $session['inner'] . '/reload-actions.log';
$worker  = new WorkerModelsEvents();
$actions = (fn (): array => $this->getReloadActionsWithPriority())->call($worker);
foreach ($actions as $class) {
    if (class_exists($class, false)) {
        continue;
    }
    $pos = strrpos($class, '\\');
    eval('namespace ' . substr($class, 0, $pos) . '; final class ' . substr($class, $pos + 1)
        . ' { public function execute(array $parameters): void { file_put_contents('
        . var_export($record, true) . ', json_encode([__CLASS__, array_values($parameters)]) . "\n", FILE_APPEND); } }');
}
@unlink($record);

$result = (function (): array {
    $this->initializeWorker();
    $this->subscribeToEvents();
    $tube    = Pheanstalk\Pheanstalk::dir('MikoPBX-Core-Workers-WorkerModelsEvents');
    $jobs    = 0;
    $planned = [];
    while (true) {
        $waiting = count(glob($tube . '/*.job') ?: []);
        if ($waiting === 0) {
            $planned = array_keys($this->plannedReloadActions);
            // Idle: Core's wait() times out and calls timeoutHandler(), which ends the batch.
            $this->beanstalkClient->wait(1);
            break;
        }
        $this->beanstalkClient->wait(1);
        $jobs++;
    }
    return ['jobs' => $jobs, 'planned' => $planned];
})->call($worker);
$result['executed'] = array_map(
    static fn (string $line) => json_decode($line, true)[0],
    is_file($record) ? file($record, FILE_IGNORE_NEW_LINES) : []
);
echo json_encode($result, JSON_UNESCAPED_SLASHES), "\n";
