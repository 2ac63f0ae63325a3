<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * The module's REST actions (GET/POST /pbxcore/api/modules/ModuleConferenceLink/<action>),
 * answered from the worker through conflink-ctl. Plain PHP; ConferenceLinkConf only wraps
 * the outcome into core's PBXApiResult.
 *
 * Actions: status; ping; dial (link or id, optional force, optional seconds for a test call);
 * hangup (link or id).
 */
final class RestActions
{
    public const ACTIONS = ['status', 'ping', 'dial', 'hangup'];

    private CtlClient $ctl;

    public function __construct(CtlClient $ctl)
    {
        $this->ctl = $ctl;
    }

    /**
     * @param array<string, mixed> $data request parameters
     *
     * @return array{success: bool, data: array<string, mixed>, error: string}
     */
    public function handle(string $action, array $data): array
    {
        $result = match ($action) {
            'status' => $this->ctl->status(),
            'ping'   => $this->ctl->ping(),
            'dial'   => $this->withLink($data, fn (string $link): CtlResult => $this->dial($link, $data)),
            'hangup' => $this->withLink($data, fn (string $link): CtlResult => $this->ctl->hangup($link)),
            default  => CtlResult::localError(
                'action: unknown ' . json_encode(substr($action, 0, 40)) . ' (expected one of ' . implode(', ', self::ACTIONS) . ')'
            ),
        };

        return ['success' => $result->ok, 'data' => $result->reply, 'error' => $result->error];
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
        // A JSON body (core passes it decoded) gives numbers, a query string gives text.
        if (is_int($seconds)) {
            $seconds = (string)$seconds;
        } elseif (is_float($seconds)) {
            $seconds = is_finite($seconds) ? LinkValidator::formatFloat($seconds) : 'not finite';
        }
        if ($seconds === '') {
            $seconds = null;
        }
        if ($seconds !== null && !is_string($seconds)) {
            return CtlResult::localError('seconds: must be a number > 0 and <= ' . CtlClient::MAX_DIAL_SECONDS);
        }

        return $this->ctl->dial($link, $force === '1', $seconds);
    }

    /**
     * @param array<string, mixed> $data
     */
    private function withLink(array $data, \Closure $call): CtlResult
    {
        $link = $data['link'] ?? $data['id'] ?? null;
        if (is_int($link)) {
            $link = (string)$link;
        }
        if (!is_string($link) || preg_match('/^[A-Za-z0-9_]{1,32}$/D', $link) !== 1) {
            return CtlResult::localError('link: required, the link id (1-32 of A-Z a-z 0-9 _)');
        }

        return $call($link);
    }
}
