<?php

/*
 * Benchmark driver (bench/status_bench.py): one status request through the module's PHP code,
 * as the REST API worker runs it, timed per request. Modes:
 *   setup <dir> <port> <links>   write the worker config there (the module's ConfigRenderer)
 *   new <dir> <n>                RestActions getStatus: PHP speaks ZeroMQ to the worker
 *   old <dir> <n>                0.1.0's path: conflink-ctl status --json, then LinkStatus
 * Prints JSON: per request wall ms, own CPU ms and CPU ms of child processes (the old path's
 * Python interpreter; 0 when no process was started).
 */

declare(strict_types=1);

require __DIR__ . '/../bin/conflink-autoload.php';

use Modules\ModuleConferenceLink\App\Lib\LinkStatus;
use Modules\ModuleConferenceLink\Lib\AtomicFile;
use Modules\ModuleConferenceLink\Lib\ConfigRenderer;
use Modules\ModuleConferenceLink\Lib\CtlClient;
use Modules\ModuleConferenceLink\Lib\ModulePaths;
use Modules\ModuleConferenceLink\Lib\RestActions;
use Modules\ModuleConferenceLink\Lib\WorkerClient;

[$mode, $dir] = [$argv[1] ?? '', $argv[2] ?? ''];
$paths = new ModulePaths(dirname(__DIR__), "{$dir}/etc", "{$dir}/run", "{$dir}/log");

if ($mode === 'setup') {
    [$port, $count] = [(int)$argv[3], (int)$argv[4]];
    $rooms = $providers = $links = [];
    for ($i = 1; $i <= $count; $i++) {
        $rooms["ROOM-{$i}"] = (string)(2000 + $i);
        $links[] = ['id' => (string)$i, 'conference_uniqid' => "ROOM-{$i}", 'provider_uniqid' => 'SIP-1', 'dst_number' => '100'];
    }
    $yaml = (new ConfigRenderer())->render($links, $rooms, ['SIP-1' => 'SIP-1'], [
        'ami_port' => (string)($port + 1), 'ami_username' => 'bench', 'ami_secret' => 'secret12345',
        'control_endpoint' => "tcp://127.0.0.1:{$port}", 'control_token' => bin2hex(random_bytes(24)),
    ])->yaml;
    AtomicFile::write($paths->configFile(), $yaml);
    echo json_encode(['config' => $paths->configFile()]), "\n";
    exit(0);
}

$n = (int)($argv[3] ?? 10);
$cpu = static function (int $who): float {
    $u = getrusage($who);
    return ($u['ru_utime.tv_sec'] + $u['ru_stime.tv_sec']) * 1000.0 + ($u['ru_utime.tv_usec'] + $u['ru_stime.tv_usec']) / 1000.0;
};
$request = match ($mode) {
    'new' => static fn (): array => (new RestActions(new WorkerClient($paths)))->handle('getStatus', []),
    'old' => static function () use ($paths): array {
        $r = (new CtlClient($paths))->run(['status', '--json']);
        return ['success' => $r->ok, 'data' => LinkStatus::fromWorkerReply($r->reply), 'error' => $r->error];
    },
    default => throw new InvalidArgumentException("mode: new, old or setup, not {$mode}"),
};
$out = ['wall_ms' => [], 'cpu_ms' => [], 'child_cpu_ms' => [], 'ok' => 0, 'links' => 0, 'error' => ''];
$request(); // warm-up: autoload and opcode caches, as in a long-lived API worker
for ($i = 0; $i < $n; $i++) {
    $c0 = $cpu(0);
    $k0 = $cpu(1);
    $t0 = hrtime(true);
    $res = $request();
    $out['wall_ms'][]      = (hrtime(true) - $t0) / 1e6;
    $out['cpu_ms'][]       = $cpu(0) - $c0;
    $out['child_cpu_ms'][] = $cpu(1) - $k0;
    $out['ok']            += $res['success'] ? 1 : 0;
    $out['links']          = count($res['data']['links'] ?? []);
    $out['error']          = $res['error'];
}
echo json_encode($out), "\n";
