<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

/**
 * Option lists for the room and provider dropdowns of the modify form.
 *
 * The controller reads the core tables and hands plain rows in; this class decides what
 * the admin sees. A value the link already holds but that no longer exists (room deleted,
 * provider disabled) stays selectable and is marked, so opening and saving the form never
 * silently switches the link to another room or provider; the validator then refuses it.
 */
final class DropdownOptions
{
    /**
     * Rooms keyed on their uniqid (what a link stores: renumbering a room keeps its links),
     * shown by name and number, in number order.
     *
     * @param iterable<array{uniqid?: mixed, extension?: mixed, name?: mixed}> $rooms rows of m_ConferenceRooms
     * @return array<int|string, string> uniqid => "name <extension>"
     */
    public static function rooms(iterable $rooms, string $current = '', string $missingSuffix = '(?)'): array
    {
        $numbers = self::roomNumbers($rooms);
        uasort($numbers, static fn(string $a, string $b): int => strnatcmp($a, $b));
        $names = [];
        foreach ($rooms as $room) {
            $names[(string)($room['uniqid'] ?? '')] = self::clean((string)($room['name'] ?? ''));
        }
        $options = [];
        foreach ($numbers as $uniqid => $extension) {
            $name = $names[(string)$uniqid] ?? '';
            $options[$uniqid] = $name === '' ? $extension : "{$name} <{$extension}>";
        }
        return self::withCurrent($options, $current, $missingSuffix);
    }

    /**
     * uniqid => extension of every room that has both (the validator's room list).
     *
     * @param iterable<array{uniqid?: mixed, extension?: mixed}> $rooms rows of m_ConferenceRooms
     * @return array<int|string, string>
     */
    public static function roomNumbers(iterable $rooms): array
    {
        $numbers = [];
        foreach ($rooms as $room) {
            $uniqid = trim((string)($room['uniqid'] ?? ''));
            $extension = trim((string)($room['extension'] ?? ''));
            if ($uniqid !== '' && $extension !== '') {
                $numbers[$uniqid] = $extension;
            }
        }
        return $numbers;
    }

    /**
     * Active SIP providers only (Sip type 'friend', disabled <> '1'), keyed on the uniqid.
     *
     * @param iterable<array<string, mixed>> $sipRows rows of m_Sip
     * @return array<int|string, string> uniqid => display name
     */
    public static function providers(iterable $sipRows, string $current = '', string $missingSuffix = '(?)'): array
    {
        $options = [];
        foreach ($sipRows as $row) {
            if (!self::isActiveProvider($row)) {
                continue;
            }
            $uniqid = (string)$row['uniqid'];
            $name = self::clean((string)($row['description'] ?? ''));
            $host = self::clean((string)($row['host'] ?? ''));
            $label = $name !== '' ? $name : $uniqid;
            if ($host !== '') {
                $label .= " ({$host})";
            }
            $options[$uniqid] = $label;
        }
        asort($options, SORT_NATURAL | SORT_FLAG_CASE);
        return self::withCurrent($options, $current, $missingSuffix);
    }

    /** @param array<string, mixed> $row */
    public static function isActiveProvider(array $row): bool
    {
        return ($row['type'] ?? '') === 'friend'
            && (string)($row['disabled'] ?? '0') !== '1'
            && trim((string)($row['uniqid'] ?? '')) !== '';
    }

    /**
     * @param array<int|string, string> $options
     * @return array<int|string, string>
     */
    private static function withCurrent(array $options, string $current, string $missingSuffix): array
    {
        if ($current !== '' && !array_key_exists($current, $options)) {
            $options[$current] = "{$current} {$missingSuffix}";
        }
        // Numeric keys become ints in PHP arrays; callers compare as strings.
        return $options;
    }

    /** Display text without control characters (names come from other admins' input). */
    private static function clean(string $text): string
    {
        return trim((string)preg_replace('/[\x00-\x1F\x7F]+/', ' ', $text));
    }
}
