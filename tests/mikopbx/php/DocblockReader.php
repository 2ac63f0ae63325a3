<?php

/*
 * Bridge for phalcon/phalcon v6: its annotations reader reads only PHP 8 #[Attributes], while
 * Core's and the module's models describe their columns in docblocks (@Primary, @Identity,
 * @Column(type="integer", nullable=true, default="7391"), @Indexes([...])) as Phalcon 5's C
 * parser reads them. This reader parses that docblock syntax into v6's Collection/Annotation
 * objects, so Core's own metadata strategy and UpdateDatabase see what the C extension gives.
 */

declare(strict_types=1);

namespace ConflinkRig;

use Phalcon\Annotations\Parser\Annotation;
use Phalcon\Annotations\Parser\Collection;
use Phalcon\Annotations\Parser\Reader;
use ReflectionClass;
use RuntimeException;

final class DocAnnotation extends Annotation
{
    /** @param array<int|string, mixed> $arguments */
    public function __construct(string $name, array $arguments)
    {
        // Annotation's own constructor takes a ReflectionAttribute; set its fields directly.
        $this->name      = $name;
        $this->arguments = $arguments;
    }
}

final class DocCollection extends Collection
{
    /** @param list<DocAnnotation> $annotations */
    public function __construct(array $annotations)
    {
        $this->annotations = $annotations;
    }
}

final class DocblockReader extends Reader
{
    public function parse(string $className): array
    {
        $reflection = new ReflectionClass($className);
        $result     = [];
        $class      = self::collection((string)$reflection->getDocComment());
        if ($class !== null) {
            $result['class'] = $class;
        }
        foreach (['constants' => $reflection->getReflectionConstants(),
                  'properties' => $reflection->getProperties(),
                  'methods' => $reflection->getMethods()] as $key => $members) {
            $found = [];
            foreach ($members as $member) {
                $c = self::collection((string)$member->getDocComment());
                if ($c !== null) {
                    $found[$member->getName()] = $c;
                }
            }
            if ($found !== []) {
                $result[$key] = $found;
            }
        }

        return $result;
    }

    private static function collection(string $doc): ?DocCollection
    {
        $list = self::parseDoc($doc);
        return $list === [] ? null : new DocCollection($list);
    }

    /** @return list<DocAnnotation> */
    public static function parseDoc(string $doc): array
    {
        if ($doc === '') {
            return [];
        }
        // Strip the comment markers, keep the text (arguments may span lines).
        $text = preg_replace(['#^/\*\*#', '#\*/$#', '#^\s*\*#m'], '', trim($doc)) ?? '';
        $out  = [];
        $len  = strlen($text);
        for ($i = 0; $i < $len; $i++) {
            if ($text[$i] !== '@' || ($i > 0 && !ctype_space($text[$i - 1]))) {
                continue;
            }
            if (preg_match('/\G@([A-Za-z_][A-Za-z0-9_\\\\]*)/', $text, $m, 0, $i) !== 1) {
                continue;
            }
            $name = $m[1];
            $i   += strlen($m[0]);
            $args = [];
            if ($i < $len && $text[$i] === '(') {
                $p    = new ArgParser($text, $i + 1);
                $args = $p->items(')');
                $i    = $p->pos;
            }
            $out[] = new DocAnnotation($name, $args);
            $i--;
        }

        return $out;
    }
}

/** Arguments: `key=value`, `key: value`, positional values, "str", 'str', numbers, [..], {..}. */
final class ArgParser
{
    public function __construct(private string $s, public int $pos)
    {
    }

    /** @return array<int|string, mixed> items up to the closing $end (consumed) */
    public function items(string $end): array
    {
        $items = [];
        while (true) {
            $this->ws();
            if ($this->peek() === $end) {
                $this->pos++;
                return $items;
            }
            $value = $this->value();
            $this->ws();
            $c = $this->peek();
            if (($c === '=' || $c === ':') && (is_string($value) || is_int($value))) {
                $this->pos++;
                $key         = $value;
                $items[$key] = $this->value();
            } else {
                $items[] = $value;
            }
            $this->ws();
            $c = $this->peek();
            if ($c === ',') {
                $this->pos++;
            } elseif ($c !== $end) {
                throw new RuntimeException("annotation: unexpected '{$c}' at {$this->pos}");
            }
        }
    }

    private function value(): mixed
    {
        $this->ws();
        $c = $this->peek();
        if ($c === '"' || $c === "'") {
            $end = strpos($this->s, $c, $this->pos + 1);
            if ($end === false) {
                throw new RuntimeException('annotation: unterminated string');
            }
            $v         = substr($this->s, $this->pos + 1, $end - $this->pos - 1);
            $this->pos = $end + 1;
            return $v;
        }
        if ($c === '[' || $c === '{') {
            $this->pos++;
            return $this->items($c === '[' ? ']' : '}');
        }
        if (preg_match('/\G[^\s,=:)\]}]+/', $this->s, $m, 0, $this->pos) !== 1) {
            throw new RuntimeException("annotation: value expected at {$this->pos}");
        }
        $this->pos += strlen($m[0]);
        $word       = $m[0];
        return match (true) {
            strtolower($word) === 'true'  => true,
            strtolower($word) === 'false' => false,
            strtolower($word) === 'null'  => null,
            preg_match('/^-?\d+$/', $word) === 1 => (int)$word,
            is_numeric($word) => (float)$word,
            default => $word,
        };
    }

    private function ws(): void
    {
        while ($this->pos < strlen($this->s) && ctype_space($this->s[$this->pos])) {
            $this->pos++;
        }
    }

    private function peek(): string
    {
        return $this->s[$this->pos] ?? '';
    }
}

/** Storage for the annotations bridge below (v6 splits storage from the Annotations object). */
final class AnnotationsStore extends \Phalcon\Storage\Adapter\Memory implements \Phalcon\Annotations\Adapter\AdapterInterface
{
}
