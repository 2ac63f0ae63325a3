<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

/**
 * Rows of the list page: one per link, with the room and provider shown by name.
 */
final class LinkRows
{
    /**
     * @param iterable<array<string, mixed>> $links rows of m_ConferenceLinks
     * @param array<int|string, string> $roomNames room uniqid => label (DropdownOptions::rooms)
     * @param array<int|string, string> $providerNames uniqid => label (DropdownOptions::providers)
     * @param array<int|string, string> $roomNumbers room uniqid => extension (DropdownOptions::roomNumbers)
     * @return array<int, array<string, mixed>>
     */
    public static function build(iterable $links, array $roomNames, array $providerNames, array $roomNumbers = []): array
    {
        $rows = [];
        foreach ($links as $link) {
            $room = (string)($link['conference_uniqid'] ?? '');
            $provider = (string)($link['provider_uniqid'] ?? '');
            $rows[] = [
                'id' => (string)($link['id'] ?? ''),
                // The room's number today (links store the room's uniqid): the list's order.
                'room' => (string)($roomNumbers[$room] ?? $room),
                'room_label' => (string)($roomNames[$room] ?? $room),
                'room_missing' => $room !== '' && !array_key_exists($room, $roomNames),
                'provider' => $provider,
                'provider_label' => $providerNames[$provider] ?? $provider,
                'provider_missing' => $provider !== '' && !array_key_exists($provider, $providerNames),
                // Through the PBX's outgoing routes: no provider of its own (the list says so).
                'routes' => (string)($link['dial_via'] ?? '') === 'routes',
                'number' => (string)($link['dst_number'] ?? ''),
                'enabled' => (string)($link['enabled'] ?? '0') === '1',
                'description' => (string)($link['description'] ?? ''),
            ];
        }
        usort($rows, static function (array $a, array $b): int {
            return strnatcmp($a['room'], $b['room']) ?: ((int)$a['id'] <=> (int)$b['id']);
        });
        return $rows;
    }
}
