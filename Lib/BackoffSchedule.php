<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use InvalidArgumentException;

/**
 * Restart delays for the supervised Python worker: grows along a fixed list and stays at its
 * last value (bounded), and starts over once a child has run long enough to count as healthy,
 * so a worker that crashes once a day is restarted at once, and a crash loop costs one start
 * per minute instead of a busy loop.
 */
final class BackoffSchedule
{
    public const DEFAULT_DELAYS = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0];
    public const DEFAULT_HEALTHY_AFTER = 60.0;

    /** @var list<float> */
    private array $delays;
    private float $healthyAfter;
    private int $failures = 0;

    /**
     * @param list<float|int> $delays       seconds, each > 0
     * @param float           $healthyAfter uptime (s) after which a death is not a crash loop
     */
    public function __construct(array $delays = self::DEFAULT_DELAYS, float $healthyAfter = self::DEFAULT_HEALTHY_AFTER)
    {
        if ($delays === []) {
            throw new InvalidArgumentException('backoff: at least one delay is needed');
        }
        foreach ($delays as $delay) {
            if (!is_int($delay) && !is_float($delay) || $delay <= 0 || !is_finite((float)$delay)) {
                throw new InvalidArgumentException('backoff: every delay must be a number > 0');
            }
        }
        $this->delays       = array_values(array_map('floatval', $delays));
        $this->healthyAfter = $healthyAfter;
    }

    /**
     * The child died after $uptime seconds: how long to wait before the next start.
     */
    public function nextDelay(float $uptime): float
    {
        if ($uptime >= $this->healthyAfter) {
            $this->failures = 0;
        }
        $index = min($this->failures, count($this->delays) - 1);
        $this->failures++;

        return $this->delays[$index];
    }

    public function failures(): int
    {
        return $this->failures;
    }

    public function reset(): void
    {
        $this->failures = 0;
    }
}
