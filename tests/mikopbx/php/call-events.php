<?php

/*
 * Core's WorkerCallEvents over CEL events, as on a PBX: each event body (the JSON that Asterisk's
 * cel_beanstalkd puts into the `asterisk-cel` tube) is published into that tube and reserved by
 * the worker's own subscription, which runs callEventsWorker → otherEvents → Action<Name>::execute
 * (for the module's rows: ActionInsertCdr, which writes cdr_general through CallDetailRecords).
 * Stand-in: only the transport into the tube. The rig has no beanstalkd and the lab's Asterisk no
 * cel_beanstalkd, so the test reads the CEL events from the lab's AMI (cel_manager) and hands
 * their bodies to this script, which publishes them with Core's own BeanstalkClient.
 *
 * Usage: php call-events.php <file with one CEL body (JSON) per line>
 * Prints one JSON line: {"jobs": <processed>, "rows": [every cdr_general row, by id]}.
 */

declare(strict_types=1);

require_once 'Globals.php';

use MikoPBX\Common\Models\CallDetailRecords;
use MikoPBX\Core\Asterisk\Configs\CelBeanstalkdConf;
use MikoPBX\Core\System\BeanstalkClient;
use MikoPBX\Core\Workers\WorkerCallEvents;

$bodies = file($argv[1] ?? '', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
if ($bodies === false) {
    fwrite(STDERR, "call-events.php: cannot read " . ($argv[1] ?? '(no file)') . "\n");
    exit(2);
}
$publisher = new BeanstalkClient(CelBeanstalkdConf::BEANSTALK_TUBE);
foreach ($bodies as $body) {
    $publisher->publish($body, CelBeanstalkdConf::BEANSTALK_TUBE);
}

$worker = new WorkerCallEvents();
$client = new BeanstalkClient(WorkerCallEvents::class);
$client->subscribe(CelBeanstalkdConf::BEANSTALK_TUBE, [$worker, 'callEventsWorker']);
$tube = Pheanstalk\Pheanstalk::dir(CelBeanstalkdConf::BEANSTALK_TUBE);
$jobs = 0;
while (count(glob($tube . '/*.job') ?: []) > 0) {
    $client->wait(1);
    $jobs++;
}
$rows = array_map(
    static fn (CallDetailRecords $row): array => $row->toArray(),
    iterator_to_array(CallDetailRecords::find(['order' => 'id']))
);
echo json_encode(['jobs' => $jobs, 'rows' => array_values($rows)], JSON_UNESCAPED_SLASHES), "\n";
