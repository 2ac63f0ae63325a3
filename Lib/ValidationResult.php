<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * Outcome of LinkValidator::check(): normalised column values (only when valid) or errors.
 */
final class ValidationResult
{
    /**
     * @param array<string, string> $values column => canonical string value (empty when invalid)
     * @param array<string, string> $errors field => translation key
     */
    public function __construct(
        public readonly array $values,
        public readonly array $errors,
    ) {
    }

    public function isValid(): bool
    {
        return $this->errors === [];
    }
}
