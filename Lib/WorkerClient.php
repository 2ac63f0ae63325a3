<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use JsonException;
use RuntimeException;

/**
 * The worker's control commands (design.md "Control protocol": ping, status, dial, hangup;
 * "Room controls": dtmf, mute, unmute)
 * spoken from PHP directly over ZeroMQ (ZmtpClient): no process is started, so a status poll
 * costs about a millisecond instead of a Python interpreter start. Endpoint and token come
 * from the worker's config file, as for conflink-ctl --config.
 *
 * Results use conflink-ctl's exit codes (CtlResult): 0 accepted, 1 refused by the worker,
 * 2 local problem, 3 no answer. When the worker does not answer and the supervisor recorded
 * why it cannot start (StartProblem), that reason is the error text.
 */
final class WorkerClient
{
    public const DEFAULT_TIMEOUT = 3.0;
    /**
     * Status and ping are polled by every open page through Core's few API workers: a hung (not
     * dead) worker must not hold one for long. A live worker answers in about a millisecond.
     */
    public const POLL_TIMEOUT = 1.0;
    /** Length of a forced (test) call the worker accepts, seconds (one source: conflink.config.LIMITS). */
    public const MIN_DIAL_SECONDS = LinkValidator::LIMITS['test_call_seconds'][0];
    public const MAX_DIAL_SECONDS = LinkValidator::LIMITS['test_call_seconds'][1];
    public const DIGITS_ERROR = 'digits: 1-32 of 0-9 * # A-D';
    public const LINK_ERROR = 'link: must match ^[A-Za-z0-9_]{1,32}$';

    public function __construct(private readonly ModulePaths $paths, private readonly float $timeout = self::DEFAULT_TIMEOUT)
    {
    }

    public function ping(): CtlResult
    {
        return $this->send(['cmd' => 'ping'], min($this->timeout, self::POLL_TIMEOUT));
    }

    public function status(): CtlResult
    {
        return $this->send(['cmd' => 'status'], min($this->timeout, self::POLL_TIMEOUT));
    }

    /** The error text of a test-call length out of range, worded as the worker words it. */
    public static function secondsError(): string
    {
        return sprintf('seconds: must be between %s and %s', LinkValidator::formatFloat((float)self::MIN_DIAL_SECONDS),
            LinkValidator::formatFloat((float)self::MAX_DIAL_SECONDS));
    }

    /**
     * @param ?string $seconds keep a forced call up this long (decimal text, MIN_DIAL_SECONDS..MAX_DIAL_SECONDS)
     */
    public function dial(string $linkId, bool $force = false, ?string $seconds = null): CtlResult
    {
        if (preg_match(LinkValidator::LINK_ID_RE, $linkId) !== 1) {
            return CtlResult::localError(self::LINK_ERROR);
        }
        $payload = ['cmd' => 'dial', 'link' => $linkId, 'force' => $force];
        if ($seconds !== null) {
            $canonical = LinkValidator::withinLimit($seconds, LinkValidator::LIMITS['test_call_seconds']);
            if ($canonical === null) {
                return CtlResult::localError(self::secondsError());
            }
            $payload['seconds'] = (float)$canonical;
        }

        return $this->send($payload);
    }

    public function hangup(string $linkId): CtlResult
    {
        if (preg_match(LinkValidator::LINK_ID_RE, $linkId) !== 1) {
            return CtlResult::localError(self::LINK_ERROR);
        }

        return $this->send(['cmd' => 'hangup', 'link' => $linkId]);
    }

    /** Send `digits` (0-9 * # A-D, LinkValidator::SEND_DIGITS_RE) to the far end on the live call. */
    public function dtmf(string $linkId, string $digits): CtlResult
    {
        if (preg_match(LinkValidator::LINK_ID_RE, $linkId) !== 1) {
            return CtlResult::localError(self::LINK_ERROR);
        }
        if (preg_match(LinkValidator::SEND_DIGITS_RE, $digits) !== 1) {
            return CtlResult::localError(self::DIGITS_ERROR);
        }

        return $this->send(['cmd' => 'dtmf', 'link' => $linkId, 'digits' => $digits]);
    }

    /** Mute (true) or unmute (false) the external party in the room. */
    public function mute(string $linkId, bool $muted): CtlResult
    {
        if (preg_match(LinkValidator::LINK_ID_RE, $linkId) !== 1) {
            return CtlResult::localError(self::LINK_ERROR);
        }

        return $this->send(['cmd' => $muted ? 'mute' : 'unmute', 'link' => $linkId]);
    }

    /**
     * @param array<string, mixed> $payload one control request without the token
     * @param ?float $timeout seconds to wait for the answer (default: the client's)
     */
    public function send(array $payload, ?float $timeout = null): CtlResult
    {
        try {
            $control = ControlSettings::fromConfigFile($this->paths->configFile());
        } catch (RuntimeException $e) {
            return CtlResult::localError($e->getMessage());
        }
        if ($control->token !== '') {
            $payload['token'] = $control->token;
        }
        try {
            $body = json_encode($payload, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR);
            $raw  = (new ZmtpClient($control->endpoint, $timeout ?? $this->timeout))->request($body);
        } catch (JsonException $e) {
            return CtlResult::localError('cannot encode the request as JSON: ' . $e->getMessage());
        } catch (ZmtpError $e) {
            return $this->noReply($e);
        }
        $reply = json_decode($raw, true);
        if (!is_array($reply) || !is_bool($reply['ok'] ?? null)) {
            $error = "unexpected answer from {$control->endpoint}: " . json_encode(substr($raw, 0, 200));
            return new CtlResult(false, ZmtpError::EXIT_NO_ANSWER, ['ok' => false, 'error' => $error], $error);
        }
        if ($reply['ok']) {
            return new CtlResult(true, 0, $reply, '');
        }
        $error          = is_string($reply['error'] ?? null) && $reply['error'] !== '' ? $reply['error'] : 'failed';
        $reply['error'] = $error;

        return new CtlResult(false, 1, $reply, $error);
    }

    private function noReply(ZmtpError $e): CtlResult
    {
        $error = $e->getMessage();
        $reply = ['ok' => false];
        if ($e->getCode() === ZmtpError::EXIT_NO_ANSWER) {
            $problem = (new StartProblem($this->paths->startProblemFile()))->read();
            if ($problem !== null) {
                $error                  = 'conflink-worker cannot start: ' . $problem;
                $reply['start_problem'] = $problem;
            }
        }
        $reply['error'] = $error;
        $code           = $e->getCode() === ZmtpError::EXIT_LOCAL ? ZmtpError::EXIT_LOCAL : ZmtpError::EXIT_NO_ANSWER;

        return new CtlResult(false, $code, $reply, $error);
    }
}
