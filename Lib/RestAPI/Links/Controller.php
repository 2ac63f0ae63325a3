<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib\RestAPI\Links;

use MikoPBX\PBXCoreREST\Attributes\ApiDataSchema;
use MikoPBX\PBXCoreREST\Attributes\ApiOperation;
use MikoPBX\PBXCoreREST\Attributes\ApiParameterRef;
use MikoPBX\PBXCoreREST\Attributes\ApiResource;
use MikoPBX\PBXCoreREST\Attributes\ApiResponse;
use MikoPBX\PBXCoreREST\Attributes\HttpMapping;
use MikoPBX\PBXCoreREST\Attributes\ResourceSecurity;
use MikoPBX\PBXCoreREST\Attributes\SecurityType;
use MikoPBX\PBXCoreREST\Controllers\BaseRestController;
use Modules\ModuleConferenceLink\Lib\LinkValidator;

/**
 * REST v3 resource of the module's links, found by core's ControllerDiscovery (enabled
 * modules' Lib/RestAPI/<Resource>/Controller.php with #[ApiResource]). Routes, OpenAPI text and
 * ACL come from the attributes; the work is done by Processor → Lib/RestActions.
 *
 *   GET  /pbxcore/api/v3/module-conference-link/links:getStatus   every link's live state
 *   GET  /pbxcore/api/v3/module-conference-link/links:ping        is the worker there
 *   POST /pbxcore/api/v3/module-conference-link/links/{id}:dial   call now / test call
 *   POST /pbxcore/api/v3/module-conference-link/links/{id}:hangup hang up the external call (drop)
 *   POST /pbxcore/api/v3/module-conference-link/links/{id}:dtmf   send digits to the far end
 *   POST /pbxcore/api/v3/module-conference-link/links/{id}:mute   mute the external party in the room
 *   POST /pbxcore/api/v3/module-conference-link/links/{id}:unmute unmute it
 */
#[ApiResource(
    path: '/pbxcore/api/v3/module-conference-link/links',
    tags: ['Module Conference Link'],
    description: 'Live state and call controls of the conference links (external parties kept in conference rooms)',
    processor: Processor::class
)]
#[ResourceSecurity('module_conference_link_links', requirements: [SecurityType::LOCALHOST, SecurityType::BEARER_TOKEN])]
#[HttpMapping(
    mapping: [
        'GET'  => ['getStatus', 'ping'],
        'POST' => ['dial', 'hangup', 'dtmf', 'mute', 'unmute'],
    ],
    resourceLevelMethods: ['dial', 'hangup', 'dtmf', 'mute', 'unmute'],
    collectionLevelMethods: ['getStatus', 'ping'],
    customMethods: ['getStatus', 'ping', 'dial', 'hangup', 'dtmf', 'mute', 'unmute'],
    idPattern: LinkValidator::LINK_ID_PATTERN
)]
class Controller extends BaseRestController
{
    protected string $processorClass = Processor::class;

    #[ApiDataSchema(schemaClass: DataStructure::class, type: 'detail')]
    #[ApiOperation(
        summary: 'Live state of every link',
        description: 'Asks the worker over its control socket (no process is started): state, participants, external channel, attempts, last error and the last attempts of each link. Always 200: when the worker does not answer, result and data.ok are false and data.error says why (data.start_problem: why it cannot start, in the self-check\'s own words).',
        operationId: 'getConferenceLinkStatus'
    )]
    #[ApiResponse(200, 'rest_response_200_get')]
    #[ApiResponse(401, 'rest_response_401_unauthorized', 'PBXApiResult')]
    #[ApiResponse(403, 'rest_response_403_forbidden', 'PBXApiResult')]
    public function getStatus(): void
    {
        // Routed by BaseRestController to Processor.
    }

    #[ApiOperation(
        summary: 'Ping the worker',
        description: 'Answers with the worker version when its control socket answers.',
        operationId: 'pingConferenceLinkWorker'
    )]
    #[ApiResponse(200, 'rest_response_200_get')]
    #[ApiResponse(503, 'The worker does not answer', 'PBXApiResult')]
    public function ping(): void
    {
    }

    #[ApiOperation(
        summary: 'Dial a link now',
        description: 'Dials the link\'s external number now. Refused on an empty room unless force is set; with force and seconds it is a test call that hangs up after that many seconds.',
        operationId: 'dialConferenceLink'
    )]
    #[ApiParameterRef('id', required: true)]
    #[ApiParameterRef('force')]
    #[ApiParameterRef('seconds')]
    #[ApiResponse(200, 'rest_response_200_updated')]
    #[ApiResponse(400, 'rest_response_400_bad_request', 'PBXApiResult')]
    #[ApiResponse(422, 'Refused by the worker (its reason is in messages.error)', 'PBXApiResult')]
    #[ApiResponse(503, 'The worker does not answer', 'PBXApiResult')]
    public function dial(string $id): void
    {
    }

    #[ApiOperation(
        summary: 'Hang up a link\'s external call',
        description: 'Hangs up the external call of the link, if there is one.',
        operationId: 'hangupConferenceLink'
    )]
    #[ApiParameterRef('id', required: true)]
    #[ApiResponse(200, 'rest_response_200_updated')]
    #[ApiResponse(400, 'rest_response_400_bad_request', 'PBXApiResult')]
    #[ApiResponse(422, 'Refused by the worker (its reason is in messages.error)', 'PBXApiResult')]
    #[ApiResponse(503, 'The worker does not answer', 'PBXApiResult')]
    public function hangup(string $id): void
    {
    }

    #[ApiOperation(
        summary: 'Send DTMF to the far end',
        description: 'Plays the digits (0-9 * # A-D, at most 32) to the far end on the link\'s live external call, e.g. *6 to toggle the room\'s line mute in Zoom, Teams, Webex or Meet.',
        operationId: 'dtmfConferenceLink'
    )]
    #[ApiParameterRef('id', required: true)]
    #[ApiParameterRef('digits', required: true)]
    #[ApiResponse(200, 'rest_response_200_updated')]
    #[ApiResponse(400, 'rest_response_400_bad_request', 'PBXApiResult')]
    #[ApiResponse(422, 'Refused by the worker (no live call; its reason is in messages.error)', 'PBXApiResult')]
    #[ApiResponse(503, 'The worker does not answer', 'PBXApiResult')]
    public function dtmf(string $id): void
    {
    }

    #[ApiOperation(
        summary: 'Mute the external party',
        description: 'Mutes the link\'s external party in the conference room (ConfBridge mute); a call redialled in the same busy period joins muted too.',
        operationId: 'muteConferenceLink'
    )]
    #[ApiParameterRef('id', required: true)]
    #[ApiResponse(200, 'rest_response_200_updated')]
    #[ApiResponse(400, 'rest_response_400_bad_request', 'PBXApiResult')]
    #[ApiResponse(422, 'Refused by the worker (no live call; its reason is in messages.error)', 'PBXApiResult')]
    #[ApiResponse(503, 'The worker does not answer', 'PBXApiResult')]
    public function mute(string $id): void
    {
    }

    #[ApiOperation(
        summary: 'Unmute the external party',
        description: 'Unmutes the link\'s external party in the conference room.',
        operationId: 'unmuteConferenceLink'
    )]
    #[ApiParameterRef('id', required: true)]
    #[ApiResponse(200, 'rest_response_200_updated')]
    #[ApiResponse(400, 'rest_response_400_bad_request', 'PBXApiResult')]
    #[ApiResponse(422, 'Refused by the worker (no live call; its reason is in messages.error)', 'PBXApiResult')]
    #[ApiResponse(503, 'The worker does not answer', 'PBXApiResult')]
    public function unmute(string $id): void
    {
    }
}
