<?php

/*
 * Stand-ins for what is neither MikoPBX nor Phalcon (docs/testing.md lists each with why).
 *
 * \Redis: the PHP redis extension's class. Core keeps caches (PbxSettings values, managed cache,
 *   module crash counters, install state) in Redis and declares `\Redis` types. Here: a
 *   per-process in-memory store with the calls Core and Phalcon's Redis adapters make. Every
 *   rig process starts with an empty cache, which is what a PBX has after a Redis flush, so
 *   no stale value can make a test pass.
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

            /** @var array<int, array<string, array{0: mixed, 1: float}>> db => key => [value, expiresAt] */
            private static array $dbs = [];
            private int $db = 0;
            /** @var array<int, mixed> */
            private array $options = [self::OPT_PREFIX => ''];

            public function connect(mixed ...$args): bool { return true; }
            public function pconnect(mixed ...$args): bool { return true; }
            public function isConnected(): bool { return true; }
            public function auth(mixed $credentials): bool { return true; }
            public function close(): bool { return true; }
            public function ping(mixed $message = null): bool|string { return $message ?? true; }
            public function select(int $db): bool { $this->db = $db; return true; }
            public function setOption(int $option, mixed $value): bool { $this->options[$option] = $value; return true; }
            public function getOption(int $option): mixed { return $this->options[$option] ?? null; }

            private function k(string $key): string
            {
                return (string)$this->options[self::OPT_PREFIX] . $key;
            }

            /** The live value of $key, null when missing or expired. */
            private function slot(string $key): mixed
            {
                $k = $this->k($key);
                $e = self::$dbs[$this->db][$k] ?? null;
                if ($e !== null && $e[1] > 0 && $e[1] < microtime(true)) {
                    unset(self::$dbs[$this->db][$k]);
                    return null;
                }
                return $e[0] ?? null;
            }

            private function put(string $key, mixed $value, float $ttl = 0): void
            {
                self::$dbs[$this->db][$this->k($key)] = [$value, $ttl > 0 ? microtime(true) + $ttl : 0.0];
            }

            public function get(string $key): mixed
            {
                $v = $this->slot($key);
                return $v ?? false;
            }

            public function set(string $key, mixed $value, mixed $options = null): bool
            {
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
            }

            public function setex(string $key, int $ttl, mixed $value): bool { $this->put($key, $value, $ttl); return true; }
            public function setnx(string $key, mixed $value): bool { return $this->set($key, $value, ['nx']); }

            public function exists(mixed ...$keys): int
            {
                $n = 0;
                foreach (is_array($keys[0] ?? null) ? $keys[0] : $keys as $key) {
                    $n += $this->slot((string)$key) !== null ? 1 : 0;
                }
                return $n;
            }

            public function del(mixed ...$keys): int
            {
                $n = 0;
                foreach (is_array($keys[0] ?? null) ? $keys[0] : $keys as $key) {
                    $k = $this->k((string)$key);
                    if (isset(self::$dbs[$this->db][$k])) {
                        unset(self::$dbs[$this->db][$k]);
                        $n++;
                    }
                }
                return $n;
            }

            public function unlink(mixed ...$keys): int { return $this->del(...$keys); }

            public function expire(string $key, int $ttl): bool
            {
                $v = $this->slot($key);
                if ($v === null) {
                    return false;
                }
                $this->put($key, $v, $ttl);
                return true;
            }

            public function ttl(string $key): int
            {
                $k = $this->k($key);
                if ($this->slot($key) === null) {
                    return -2;
                }
                $at = self::$dbs[$this->db][$k][1];
                return $at > 0 ? (int)ceil($at - microtime(true)) : -1;
            }

            /** @return list<string> */
            public function keys(string $pattern): array
            {
                $prefix = (string)$this->options[self::OPT_PREFIX];
                $out    = [];
                foreach (array_keys(self::$dbs[$this->db] ?? []) as $k) {
                    if ($this->slot(substr($k, strlen($prefix))) !== null && fnmatch($prefix . $pattern, $k)) {
                        $out[] = ($this->options[self::OPT_SCAN] ?? null) === self::SCAN_NOPREFIX ? $k : substr($k, strlen($prefix));
                    }
                }
                return $out;
            }

            public function scan(mixed &$iterator, ?string $pattern = null, int $count = 0): array|false
            {
                if ($iterator === 0) {
                    return false;
                }
                $iterator = 0;
                return $this->keys($pattern ?? '*');
            }

            public function incrBy(string $key, int $by): int
            {
                $v = (int)($this->slot($key) ?? 0) + $by;
                $this->put($key, $v);
                return $v;
            }
            public function incr(string $key, int $by = 1): int { return $this->incrBy($key, $by); }
            public function decr(string $key, int $by = 1): int { return $this->incrBy($key, -$by); }
            public function decrBy(string $key, int $by): int { return $this->incrBy($key, -$by); }

            public function hSet(string $key, mixed ...$fv): int
            {
                $h = $this->slot($key) ?? [];
                $n = 0;
                for ($i = 0; $i + 1 < count($fv); $i += 2) {
                    $n += array_key_exists((string)$fv[$i], $h) ? 0 : 1;
                    $h[(string)$fv[$i]] = $fv[$i + 1];
                }
                $this->put($key, $h);
                return $n;
            }
            public function hGet(string $key, string $field): mixed { return ($this->slot($key) ?? [])[$field] ?? false; }
            public function hGetAll(string $key): array { return $this->slot($key) ?? []; }
            public function hExists(string $key, string $field): bool { return array_key_exists($field, $this->slot($key) ?? []); }
            public function hDel(string $key, string ...$fields): int
            {
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
            }

            public function rPush(string $key, mixed ...$values): int
            {
                $l = $this->slot($key) ?? [];
                array_push($l, ...$values);
                $this->put($key, $l);
                return count($l);
            }
            public function lPush(string $key, mixed ...$values): int
            {
                $l = $this->slot($key) ?? [];
                array_unshift($l, ...array_reverse($values));
                $this->put($key, $l);
                return count($l);
            }
            public function lPop(string $key): mixed
            {
                $l = $this->slot($key) ?? [];
                $v = array_shift($l);
                $this->put($key, $l);
                return $v ?? false;
            }
            public function lRange(string $key, int $start, int $end): array
            {
                $l = $this->slot($key) ?? [];
                return array_slice($l, $start, $end < 0 ? count($l) + $end + 1 - $start : $end - $start + 1);
            }
            public function lLen(string $key): int { return count($this->slot($key) ?? []); }

            /** Core uses EVAL only to delete a lock it holds (compare-and-delete). */
            public function eval(string $script, array $args = [], int $numKeys = 0): mixed
            {
                if ($numKeys === 1 && str_contains($script, 'del')) {
                    return $this->get((string)$args[0]) === ($args[1] ?? null) ? $this->del((string)$args[0]) : 0;
                }
                throw new RedisException('rig Redis stand-in: EVAL of this script is not supported: ' . $script);
            }

            public function flushDB(mixed $async = null): bool { self::$dbs[$this->db] = []; return true; }
            public function flushAll(mixed $async = null): bool { self::$dbs = []; return true; }

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
