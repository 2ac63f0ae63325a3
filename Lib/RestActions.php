<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use Modules\ModuleConferenceLink\App\Lib\LinkStatus;

/**
 * The module's REST actions (Lib/RestAPI/Links: /pbxcore/api/v3/module-conference-link/links),
 * answered by the worker over ZeroMQ (WorkerClient). Plain PHP: the Processor only wraps the
 * outcome into core's PBXApiResult.
 *
 * Actions: getStatus (every link's live state, normalised by LinkStatus for the pages and API
 * clients alike); ping; dial (id, optional force, optional seconds for a test call); hangup (id);
 * room controls: dtmf (id, digits), mute (id), unmute (id).
 */
final class RestActions
{
    public const ACTIONS = ['getStatus', 'ping', 'dial', 'hangup', 'dtmf', 'mute', 'unmute'];

    /** HTTP status of a control action per conflink-ctl exit code: accepted, refused, bad request, worker absent. */
    public const HTTP_CODES = [0 => 200, 1 => 422, 2 => 400, 3 => 503];

    public function __construct(private readonly WorkerClient $worker)
    {
    }

    /**
     * @param array<string, mixed> $data request parameters (path id, query, body)
     *
     * @return array{success: bool, data: array<string, mixed>, error: string, httpCode: int}
     */
    public function handle(string $action, array $data): array
    {
        $result = match ($action) {
            'getStatus' => $this->worker->status(),
            'ping'      => $this->worker->ping(),
            'dial'      => $this->withLink($data, fn (string $link): CtlResult => $this->dial($link, $data)),
            'hangup'    => $this->withLink($data, fn (string $link): CtlResult => $this->worker->hangup($link)),
            'dtmf'      => $this->withLink($data, fn (string $link): CtlResult => $this->dtmf($link, $data)),
            'mute'      => $this->withLink($data, fn (string $link): CtlResult => $this->worker->mute($link, true)),
            'unmute'    => $this->withLink($data, fn (string $link): CtlResult => $this->worker->mute($link, false)),
            default     => CtlResult::localError(
                'action: unknown ' . json_encode(substr($action, 0, 40)) . ' (expected one of ' . implode(', ', self::ACTIONS) . ')'
            ),
        };
        $reply = $action === 'getStatus' ? LinkStatus::fromWorkerReply($result->reply) : $result->reply;

        return [
            'success'  => $result->ok,
            'data'     => $reply,
            'error'    => $result->error,
            // getStatus describes the worker, "not answering" included: the request itself
            // succeeded (and the pages' polls leave no failed request in the browser console).
            'httpCode' => $action === 'getStatus' ? 200 : (self::HTTP_CODES[$result->exitCode] ?? 500),
        ];
    }

    /**
     * @param array<string, mixed> $data force (yes/no), seconds (optional, for a test call)
     */
    private function dial(string $link, array $data): CtlResult
    {
        $force = LinkValidator::normaliseCheckbox($data['force'] ?? false);
        if ($force === null) {
            return CtlResult::localError('force: must be a yes/no value');
        }
        $seconds = $data['seconds'] ?? null;
        // A JSON body gives numbers (core's input filter turns them into integers), a form or
        // query string gives text.
        if (is_int($seconds)) {
            $seconds = (string)$seconds;
        } elseif (is_float($seconds)) {
            $seconds = is_finite($seconds) ? LinkValidator::formatFloat($seconds) : 'not finite';
        }
        if ($seconds === '') {
            $seconds = null;
        }
        if ($seconds !== null && !is_string($seconds)) {
            return CtlResult::localError(WorkerClient::secondsError());
        }

        return $this->worker->dial($link, $force === '1', $seconds);
    }

    /**
     * @param array<string, mixed> $data digits (text; a JSON number such as 123 is taken as its digits)
     */
    private function dtmf(string $link, array $data): CtlResult
    {
        $digits = $data['digits'] ?? null;
        if (is_int($digits) && $digits >= 0) {
            $digits = (string)$digits;
        }
        if (!is_string($digits)) {
            return CtlResult::localError(WorkerClient::DIGITS_ERROR);
        }

        return $this->worker->dtmf($link, $digits);
    }

    /**
     * @param array<string, mixed> $data
     */
    private function withLink(array $data, \Closure $call): CtlResult
    {
        $link = $data['id'] ?? $data['link'] ?? null;
        if (is_int($link)) {
            $link = (string)$link;
        }
        if (!is_string($link) || preg_match(LinkValidator::LINK_ID_RE, $link) !== 1) {
            return CtlResult::localError('id: required, the link id (1-32 of A-Z a-z 0-9 _)');
        }

        return $call($link);
    }
}
