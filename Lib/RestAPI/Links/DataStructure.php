<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib\RestAPI\Links;

use MikoPBX\PBXCoreREST\Lib\Common\OpenApiSchemaProvider;
use Modules\ModuleConferenceLink\Lib\LinkValidator;

/**
 * OpenAPI description of the links resource: the request parameters and the status shape
 * that App/Lib/LinkStatus produces (the pages and API clients get the same normalised data).
 */
class DataStructure implements OpenApiSchemaProvider
{
    public static function getListItemSchema(): array
    {
        return self::linkSchema();
    }

    public static function getDetailSchema(): array
    {
        return [
            'type'       => 'object',
            'properties' => [
                'ok'            => ['type' => 'boolean', 'description' => 'The worker answered'],
                'error'         => ['type' => 'string', 'description' => 'Why not, when ok is false (e.g. the worker\'s start problem)'],
                'ami_connected' => ['type' => 'boolean', 'nullable' => true, 'description' => 'The worker\'s AMI connection is up'],
                'links'         => [
                    'type'                 => 'object',
                    'description'          => 'Live state per link id',
                    'additionalProperties' => self::linkSchema(),
                ],
            ],
        ];
    }

    public static function getRelatedSchemas(): array
    {
        return [];
    }

    /** @return array<string, array<string, mixed>> */
    public static function getParameterDefinitions(): array
    {
        return [
            'request' => [
                'id'      => ['type' => 'string', 'in' => 'path', 'pattern' => '^' . LinkValidator::LINK_ID_PATTERN . '$', 'description' => 'Link id', 'example' => '7'],
                'force'   => ['type' => 'boolean', 'description' => 'Dial even when the room is empty (a test call)', 'default' => false],
                'seconds' => ['type' => 'number', 'minimum' => 0, 'maximum' => 86400, 'description' => 'With force: hang up after this many seconds', 'example' => 20],
                'digits'  => ['type' => 'string', 'pattern' => '^[0-9*#ABCD]{1,32}$', 'description' => 'DTMF digits to send to the far end', 'example' => '*6'],
            ],
            'response' => [],
            'related'  => [],
        ];
    }

    /** @return array<string, mixed> */
    private static function linkSchema(): array
    {
        return [
            'type'       => 'object',
            'properties' => [
                'state'                 => ['type' => 'string', 'example' => 'connected'],
                'room'                  => ['type' => 'string', 'example' => '354233'],
                'internal_participants' => ['type' => 'integer', 'nullable' => true],
                'external_channel'      => ['type' => 'string'],
                'since'                 => ['type' => 'number', 'nullable' => true, 'description' => 'Epoch seconds'],
                'attempts'              => ['type' => 'integer'],
                'max_attempts'          => ['type' => 'integer', 'nullable' => true],
                'next_attempt_in'       => ['type' => 'number', 'nullable' => true],
                'last_error'            => ['type' => 'string'],
                'muted'                 => ['type' => 'boolean', 'description' => 'The administrator muted the external party (until the room empties)'],
                'external_muted'        => ['type' => 'boolean', 'description' => 'ConfBridge reports the external party muted'],
                'log'                   => ['type' => 'array', 'items' => ['type' => 'object'], 'description' => 'The last attempts: time, result, cause, duration'],
            ],
        ];
    }
}
