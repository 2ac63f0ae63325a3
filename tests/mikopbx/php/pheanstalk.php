<?php

/*
 * Stand-in for the Pheanstalk client library (the beanstalkd queue; not MikoPBX, not Phalcon).
 * Core's own BeanstalkClient runs on top of it unchanged. Jobs are files in the session's
 * beanstalk/<tube>/ folder, so what one rig process publishes (a model save sends its change
 * to WorkerModelsEvents' tube) another process can reserve, as with a real beanstalkd.
 * Only the calls Core's BeanstalkClient makes on the paths the rig runs are implemented.
 */

declare(strict_types=1);

namespace Pheanstalk\Contract {
    if (!interface_exists(JobIdInterface::class, false)) {
        interface JobIdInterface
        {
            public function getId(): int;
        }
        interface PheanstalkInterface
        {
            public const DEFAULT_PRIORITY = 1024;
            public const DEFAULT_DELAY = 0;
            public const DEFAULT_TTR = 60;
        }
    }
}

namespace Pheanstalk {
    use Pheanstalk\Contract\JobIdInterface;
    use Pheanstalk\Contract\PheanstalkInterface;

    if (!class_exists(Pheanstalk::class, false)) {
        class Job implements JobIdInterface
        {
            public function __construct(private int $id, private string $data, public string $file = '', public string $tube = 'default')
            {
            }
            public function getId(): int { return $this->id; }
            public function getData(): string { return $this->data; }
        }

        class Pheanstalk implements PheanstalkInterface
        {
            private string $using = 'default';
            /** @var array<string, true> */
            private array $watching = ['default' => true];

            public static function create(string $host, int|string $port = 11300, mixed $timeout = null): self
            {
                return new self();
            }

            public static function dir(?string $tube = null): string
            {
                $session = json_decode((string)file_get_contents(dirname(__DIR__) . '/rig/session.json'), true);
                $base    = $session['inner'] . '/beanstalk';
                return $tube === null ? $base : $base . '/' . rawurlencode($tube);
            }

            public function useTube(string $tube): self { $this->using = $tube; return $this; }
            public function watch(string $tube): int { $this->watching[$tube] = true; return count($this->watching); }
            public function ignore(string $tube): int { unset($this->watching[$tube]); return count($this->watching); }

            public function put(string $data, int $priority = self::DEFAULT_PRIORITY, int $delay = 0, int $ttr = 60): Job
            {
                $dir = self::dir($this->using);
                if (!is_dir($dir)) {
                    mkdir($dir, 0755, true);
                }
                $id  = (int)(hrtime(true) / 1000) * 10 + random_int(0, 9);
                $tmp = "{$dir}/.{$id}";
                file_put_contents($tmp, $data);
                rename($tmp, "{$dir}/{$id}.job");
                return new Job($id, $data);
            }

            public function reserveWithTimeout(int $timeout): ?Job
            {
                $deadline = microtime(true) + $timeout;
                do {
                    foreach (array_keys($this->watching) as $tube) {
                        $files = glob(self::dir($tube) . '/*.job') ?: [];
                        sort($files, SORT_NATURAL);
                        foreach ($files as $file) {
                            $claimed = $file . '.reserved';
                            if (@rename($file, $claimed)) {
                                return new Job((int)basename($file, '.job'), (string)file_get_contents($claimed), $claimed, $tube);
                            }
                        }
                    }
                    usleep(50000);
                } while (microtime(true) < $deadline);
                return null;
            }

            public function delete(JobIdInterface $job): void
            {
                if ($job instanceof Job && $job->file !== '') {
                    @unlink($job->file);
                }
            }

            /** What Core's BeanstalkClient::wait() reads: the job's tube and how often it was reserved. */
            public function statsJob(JobIdInterface $job): \ArrayObject
            {
                return new \ArrayObject(['tube' => $job instanceof Job ? $job->tube : 'default', 'reserves' => 1]);
            }

            public function bury(JobIdInterface $job, int $priority = self::DEFAULT_PRIORITY): void { $this->delete($job); }

            /** @return list<string> */
            public function listTubes(): array
            {
                return array_map(static fn ($d) => rawurldecode(basename($d)), glob(self::dir() . '/*', GLOB_ONLYDIR) ?: []);
            }

            public function __call(string $name, array $args): mixed
            {
                throw new \RuntimeException("rig Pheanstalk stand-in: {$name}() is not implemented");
            }
        }
    }
}
