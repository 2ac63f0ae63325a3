<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use RuntimeException;

/**
 * A ZMTP exchange that did not produce a reply. The code uses conflink-ctl's exit codes.
 */
final class ZmtpError extends RuntimeException
{
    /** The request could not be made (bad endpoint, oversized request). */
    public const EXIT_LOCAL = 2;
    /** The worker is not there, did not answer in time, or answered something unreadable. */
    public const EXIT_NO_ANSWER = 3;
}
