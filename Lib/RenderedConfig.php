<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * The worker config text plus the link rows that were left out of it and why.
 */
final class RenderedConfig
{
    /**
     * @param string                                                   $yaml    schema v1 document
     * @param list<array{id: string, errors: array<string, string>}>   $skipped rows left out
     */
    public function __construct(
        public readonly string $yaml,
        public readonly array $skipped,
    ) {
    }
}
