<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 *
 * This program is free software: you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * What DtmfPresets::build() made of a preset and its fields.
 */
final class PresetResult
{
    /**
     * @param string|null           $sequence canonical DTMF (may be ''), null when there are errors
     * @param array<string, string> $fields   canonical value of every DtmfPresets::FIELDS entry ('' = unused)
     * @param array<string, string> $errors   field => error translation key
     */
    public function __construct(
        public readonly ?string $sequence,
        public readonly array $fields,
        public readonly array $errors
    ) {
    }

    public function isValid(): bool
    {
        return $this->errors === [];
    }
}
