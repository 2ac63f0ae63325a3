<?php

/*
 * Stand-ins for what is neither MikoPBX nor Phalcon (docs/testing.md lists each with why).
 *
 * \Redis: the PHP redis extension's class. Core keeps caches (PbxSettings values, model
 *   metadata, managed cache) and state shared between processes (module install status, crash
 *   counters) in Redis and declares `\Redis` types. Here: one file per database index in the
 *   session's redis/ folder, locked per call, so every process of a session shares it as they
 *   share a Redis server. Only the calls Core and Phalcon's Redis adapters make.
 * Whoops: the error-page library. Core registers it as an error handler that also disables
 *   a module whose file threw. Here register() does nothing, so every PHP error and uncaught
 *   exception reaches stderr and fails the test that caused it.
 */

declare(strict_types=1);

namespace {
    if (!class_exists('Redis', false)) {
        class RedisException extends \RuntimeException
        {
        }

        class Redis
        {
            public const OPT_SERIALIZER = 1;
            public const OPT_PREFIX = 2;
            public const OPT_READ_TIMEOUT = 3;
            public const OPT_SCAN = 4;
            public const SERIALIZER_NONE = 0;
            public const SERIALIZER_PHP = 1;
            public const SCAN_NORETRY = 0;
            public const SCAN_RETRY = 1;
            public const SCAN_PREFIX = 2;
            public const SCAN_NOPREFIX = 3;

            private int $db = 0;
            /** @var array<int, mixed> */
            private array $options = [self::OPT_PREFIX => ''];
            /** @var array<string, array{0: mixed, 1: float}>|null key => [value, expiresAt], while locked */
            private ?array $data = null;
            private int $depth = 0;
            /** @var resource|null */
            private $lock = null;

            public function connect(mixed ...$args): bool { return true; }
            public function pconnect(mixed ...$args): bool { return true; }
            public function isConnected(): bool { return true; }
            public function auth(mixed $credentials): bool { return true; }
            public function close(): bool { return true; }
            public function ping(mixed $message = null): bool|string { return $message ?? true; }
            public function select(int $db): bool { $this->db = $db; return true; }
            public function setOption(int $option, mixed $value): bool { $this->options[$option] = $value; return true; }
            public function getOption(int $option): mixed { return $this->options[$option] ?? null; }

            private function file(): string
            {
                static $dir = null;
                if ($dir === null) {
                    $session = json_decode((string)file_get_contents(__DIR__ . '/session.json'), true);
                    $dir     = $session['inner'] . '/redis';
                    if (!is_dir($dir)) {
                        @mkdir($dir, 0700, true);
                    }
                }
                return "{$dir}/db{$this->db}";
            }

            /** Runs $fn on the database under an exclusive lock; writes it back if $write. */
            private function tx(callable $fn, bool $write = false): mixed
            {
                if ($this->depth > 0) {
                    return $fn();
                }
                $file       = $this->file();
                $this->lock = fopen($file . '.lock', 'c');
                flock($this->lock, LOCK_EX);
                $this->depth++;
                try {
                    $raw        = @file_get_contents($file);
                    $this->data = $raw ? (unserialize($raw) ?: []) : [];
                    $result     = $fn();
                    if ($write) {
                        file_put_contents($file . '.tmp', serialize($this->data));
                        rename($file . '.tmp', $file);
                    }
                    return $result;
                } finally {
                    $this->depth--;
                    $this->data = null;
                    flock($this->lock, LOCK_UN);
                    fclose($this->lock);
                }
            }

            private function k(string $key): string
            {
                return (string)$this->options[self::OPT_PREFIX] . $key;
            }

            /** The live value of $key, null when missing or expired (call inside tx()). */
            private function slot(string $key): mixed
            {
                $e = $this->data[$this->k($key)] ?? null;
                if ($e !== null && $e[1] > 0 && $e[1] < microtime(true)) {
                    return null;
                }
                return $e[0] ?? null;
            }

            private function put(string $key, mixed $value, float $ttl = 0): void
            {
                $this->data[$this->k($key)] = [$value, $ttl > 0 ? microtime(true) + $ttl : 0.0];
            }

            public function get(string $key): mixed
            {
                return $this->tx(fn () => $this->slot($key) ?? false);
            }

            public function set(string $key, mixed $value, mixed $options = null): bool
            {
                return $this->tx(function () use ($key, $value, $options): bool {
                    $ttl = 0;
                    if (is_int($options)) {
                        $ttl = $options;
                    } elseif (is_array($options)) {
                        if ((in_array('nx', $options, true) && $this->slot($key) !== null)
                            || (in_array('xx', $options, true) && $this->slot($key) === null)) {
                            return false;
                        }
                        $ttl = (int)($options['ex'] ?? 0) ?: (int)(($options['px'] ?? 0) / 1000);
                    }
                    $this->put($key, $value, $ttl);
                    return true;
                }, true);
            }

            public function setex(string $key, int $ttl, mixed $value): bool { return $this->set($key, $value, $ttl); }
            public function setnx(string $key, mixed $value): bool { return $this->set($key, $value, ['nx']); }

            /** @param list<mixed> $keys */
            private static function flat(array $keys): array
            {
                return is_array($keys[0] ?? null) ? $keys[0] : $keys;
            }

            public function exists(mixed ...$keys): int
            {
                return $this->tx(function () use ($keys): int {
                    $n = 0;
                    foreach (self::flat($keys) as $key) {
                        $n += $this->slot((string)$key) !== null ? 1 : 0;
                    }
                    return $n;
                });
            }

            public function del(mixed ...$keys): int
            {
                return $this->tx(function () use ($keys): int {
                    $n = 0;
                    foreach (self::flat($keys) as $key) {
                        if ($this->slot((string)$key) !== null) {
                            $n++;
                        }
                        unset($this->data[$this->k((string)$key)]);
                    }
                    return $n;
                }, true);
            }

            public function unlink(mixed ...$keys): int { return $this->del(...$keys); }

            public function expire(string $key, int $ttl): bool
            {
                return $this->tx(function () use ($key, $ttl): bool {
                    $v = $this->slot($key);
                    if ($v === null) {
                        return false;
                    }
                    $this->put($key, $v, $ttl);
                    return true;
                }, true);
            }

            public function ttl(string $key): int
            {
                return $this->tx(function () use ($key): int {
                    if ($this->slot($key) === null) {
                        return -2;
                    }
                    $at = $this->data[$this->k($key)][1];
                    return $at > 0 ? (int)ceil($at - microtime(true)) : -1;
                });
            }

            /** Raw (prefixed) names of live keys matching a raw pattern (call inside tx()). */
            private function match(string $rawPattern): array
            {
                $out = [];
                foreach ($this->data as $k => $e) {
                    if (($e[1] <= 0 || $e[1] >= microtime(true)) && fnmatch($rawPattern, (string)$k)) {
                        $out[] = (string)$k;
                    }
                }
                return $out;
            }

            /** As phpredis: the prefix is added to the pattern; full key names come back. */
            public function keys(string $pattern): array
            {
                return $this->tx(fn () => $this->match((string)$this->options[self::OPT_PREFIX] . $pattern));
            }

            /** As phpredis: the pattern gets the prefix only with OPT_SCAN = SCAN_PREFIX. One pass. */
            public function scan(mixed &$iterator, ?string $pattern = null, int $count = 0): array|false
            {
                if ($iterator === 0) {
                    return false;
                }
                $iterator = 0;
                $prefix   = ($this->options[self::OPT_SCAN] ?? null) === self::SCAN_PREFIX ? (string)$this->options[self::OPT_PREFIX] : '';
                return $this->tx(fn () => $this->match($prefix . ($pattern ?? '*')));
            }

            public function incrBy(string $key, int $by): int
            {
                return $this->tx(function () use ($key, $by): int {
                    $v = (int)($this->slot($key) ?? 0) + $by;
                    $this->put($key, $v);
                    return $v;
                }, true);
            }
            public function incr(string $key, int $by = 1): int { return $this->incrBy($key, $by); }
            public function decr(string $key, int $by = 1): int { return $this->incrBy($key, -$by); }
            public function decrBy(string $key, int $by): int { return $this->incrBy($key, -$by); }

            public function hSet(string $key, mixed ...$fv): int
            {
                return $this->tx(function () use ($key, $fv): int {
                    $h = $this->slot($key) ?? [];
                    if (count($fv) === 1 && is_array($fv[0])) {
                        $pairs = [];
                        foreach ($fv[0] as $f => $v) {
                            $pairs[] = $f;
                            $pairs[] = $v;
                        }
                        $fv = $pairs;
                    }
                    $n = 0;
                    for ($i = 0; $i + 1 < count($fv); $i += 2) {
                        $n += array_key_exists((string)$fv[$i], $h) ? 0 : 1;
                        $h[(string)$fv[$i]] = $fv[$i + 1];
                    }
                    $this->put($key, $h);
                    return $n;
                }, true);
            }
            public function hGet(string $key, string $field): mixed { return $this->tx(fn () => ($this->slot($key) ?? [])[$field] ?? false); }
            public function hGetAll(string $key): array { return $this->tx(fn () => $this->slot($key) ?? []); }
            public function hExists(string $key, string $field): bool { return $this->tx(fn () => array_key_exists($field, $this->slot($key) ?? [])); }
            public function hDel(string $key, string ...$fields): int
            {
                return $this->tx(function () use ($key, $fields): int {
                    $h = $this->slot($key) ?? [];
                    $n = 0;
                    foreach ($fields as $f) {
                        if (array_key_exists($f, $h)) {
                            unset($h[$f]);
                            $n++;
                        }
                    }
                    $this->put($key, $h);
                    return $n;
                }, true);
            }

            private function listOp(string $key, callable $fn): mixed
            {
                return $this->tx(function () use ($key, $fn): mixed {
                    $l      = $this->slot($key) ?? [];
                    $result = $fn($l);
                    $this->put($key, $l);
                    return $result;
                }, true);
            }
            public function rPush(string $key, mixed ...$values): int
            {
                return $this->listOp($key, static function (array &$l) use ($values): int {
                    array_push($l, ...$values);
                    return count($l);
                });
            }
            public function lPush(string $key, mixed ...$values): int
            {
                return $this->listOp($key, static function (array &$l) use ($values): int {
                    array_unshift($l, ...array_reverse($values));
                    return count($l);
                });
            }
            public function lPop(string $key): mixed
            {
                return $this->listOp($key, static fn (array &$l) => array_shift($l) ?? false);
            }
            public function lRem(string $key, mixed $value, int $count = 0): int
            {
                return $this->listOp($key, static function (array &$l) use ($value): int {
                    $before = count($l);
                    $l      = array_values(array_filter($l, static fn ($v) => $v !== $value));
                    return $before - count($l);
                });
            }
            public function lRange(string $key, int $start, int $end): array
            {
                return $this->tx(function () use ($key, $start, $end): array {
                    $l = $this->slot($key) ?? [];
                    return array_slice($l, $start, $end < 0 ? count($l) + $end + 1 - $start : $end - $start + 1);
                });
            }
            public function lLen(string $key): int { return $this->tx(fn () => count($this->slot($key) ?? [])); }

            /** Core uses EVAL only to delete a lock it holds (compare-and-delete). */
            public function eval(string $script, array $args = [], int $numKeys = 0): mixed
            {
                if ($numKeys === 1 && stripos($script, 'DEL') !== false && stripos($script, 'GET') !== false) {
                    return $this->tx(function () use ($args): int {
                        if ($this->slot((string)$args[0]) !== ($args[1] ?? null)) {
                            return 0;
                        }
                        unset($this->data[$this->k((string)$args[0])]);
                        return 1;
                    }, true);
                }
                throw new RedisException('rig Redis stand-in: EVAL of this script is not supported: ' . $script);
            }

            public function flushDB(mixed $async = null): bool
            {
                return $this->tx(function (): bool {
                    $this->data = [];
                    return true;
                }, true);
            }

            public function __call(string $name, array $args): mixed
            {
                throw new RedisException("rig Redis stand-in: {$name}() is not implemented");
            }
        }
    }
}

namespace Whoops\Handler {
    if (!class_exists(Handler::class, false)) {
        abstract class Handler
        {
            public const DONE = 0x10;
            public const LAST_HANDLER = 0x20;
            public const QUIT = 0x30;
        }
        class PlainTextHandler extends Handler
        {
        }
        class JsonResponseHandler extends Handler
        {
        }
        class PrettyPageHandler extends Handler
        {
        }
    }
}

namespace Whoops\Util {
    if (!class_exists(Misc::class, false)) {
        final class Misc
        {
            public static function isAjaxRequest(): bool { return false; }
            public static function isCommandLine(): bool { return PHP_SAPI === 'cli'; }
        }
    }
}

namespace Whoops {
    if (!class_exists(Run::class, false)) {
        /** Registers nothing: PHP's own error output stays on (see the file header). */
        final class Run
        {
            public function pushHandler(mixed $handler): static { return $this; }
            public function appendHandler(mixed $handler): static { return $this; }
            public function register(): static { return $this; }
            public function allowQuit(bool $allow): static { return $this; }
            public function handleException(\Throwable $e): string
            {
                return get_class($e) . ': ' . $e->getMessage() . ' in ' . $e->getFile() . ':' . $e->getLine();
            }
        }
    }
}
