<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

/**
 * Limits of the modify page's "Test call" (a dial with force and a bounded duration, so the
 * admin can check number, provider and DTMF with nobody in the room). The page script checks
 * them (conference-link-rules.js TEST_CALL) before it calls the REST resource's dial; the
 * worker's own limit (WorkerClient::MAX_DIAL_SECONDS) is wider.
 */
final class WorkerCommand
{
    public const TEST_CALL_MIN = 5;
    public const TEST_CALL_MAX = 600;
    public const TEST_CALL_DEFAULT = 30;
}
