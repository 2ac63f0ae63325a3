<?php

declare(strict_types=1);

/*
 * ModuleConferenceLink — admin UI helpers (plain PHP, no Phalcon).
 */

namespace Modules\ModuleConferenceLink\App\Lib;

use InvalidArgumentException;

/**
 * Checks and builds the payload of a control request sent from the admin pages
 * (through the module's REST callback) to the worker.
 *
 * "Call now" dials only when internal participants are present (the worker refuses an
 * empty room); "Test call" is a dial with force and a bounded duration, so the admin can
 * check number, provider and DTMF with nobody in the room.
 */
final class WorkerCommand
{
    public const ACTIONS = ['status', 'dial', 'hangup'];

    public const TEST_CALL_MIN = 5;
    public const TEST_CALL_MAX = 600;
    public const TEST_CALL_DEFAULT = 30;

    /** @return array<string, string> */
    public static function status(): array
    {
        return [];
    }

    /** @return array<string, string> */
    public static function dial(mixed $linkId): array
    {
        return ['id' => self::linkId($linkId), 'force' => '0'];
    }

    /** @return array<string, string> */
    public static function testCall(mixed $linkId, mixed $seconds): array
    {
        if ($seconds === null || $seconds === '') {
            $seconds = (string)self::TEST_CALL_DEFAULT;
        }
        if (!is_string($seconds) && !is_int($seconds)) {
            throw new InvalidArgumentException('module_conflink_error_test_seconds');
        }
        $seconds = (string)$seconds;
        if (preg_match('/^[0-9]{1,4}$/D', $seconds) !== 1
            || (int)$seconds < self::TEST_CALL_MIN || (int)$seconds > self::TEST_CALL_MAX) {
            throw new InvalidArgumentException('module_conflink_error_test_seconds');
        }
        return ['id' => self::linkId($linkId), 'force' => '1', 'seconds' => (string)(int)$seconds];
    }

    /** @return array<string, string> */
    public static function hangup(mixed $linkId): array
    {
        return ['id' => self::linkId($linkId)];
    }

    /** Link ids are the DB row ids: positive integers, sent as strings. */
    public static function linkId(mixed $value): string
    {
        if (is_int($value) && $value > 0) {
            return (string)$value;
        }
        if (is_string($value) && preg_match('/^[1-9][0-9]{0,9}$/D', $value) === 1) {
            return $value;
        }
        throw new InvalidArgumentException('module_conflink_error_link_id');
    }
}
