<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib\RestAPI\Links;

use MikoPBX\PBXCoreREST\Lib\PBXApiResult;
use Modules\ModuleConferenceLink\Lib\ConferenceLinkConf;
use Modules\ModuleConferenceLink\Lib\RestActions;
use Modules\ModuleConferenceLink\Lib\WorkerClient;

/**
 * Runs inside core's WorkerApiCommands (as root, next to the worker): hands the request to
 * RestActions and wraps the outcome into core's PBXApiResult.
 */
class Processor
{
    /**
     * @param array<string, mixed> $request {action, data, …} as queued by BaseRestController
     */
    public static function callBack(array $request): PBXApiResult
    {
        $res            = new PBXApiResult();
        $res->processor = __METHOD__;
        $action         = is_string($request['action'] ?? null) ? $request['action'] : '';
        $data           = is_array($request['data'] ?? null) ? $request['data'] : [];
        $outcome        = (new RestActions(new WorkerClient(ConferenceLinkConf::paths())))->handle($action, $data);
        $res->function  = $action;
        $res->success   = $outcome['success'];
        $res->data      = $outcome['data'];
        $res->httpCode  = $outcome['httpCode'];
        if (!$outcome['success']) {
            $res->messages['error'][] = $outcome['error'];
        }

        return $res;
    }
}
