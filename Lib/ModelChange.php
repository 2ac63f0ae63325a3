<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

/**
 * One WorkerModelsEvents change message (what core's ModelsBase publishes after a save or a
 * delete: {source, model, recordId, action, changedFields}), reduced to what the worker config
 * depends on. Plain data in, no database: the records themselves are looked up by ConfigBatch.
 *
 * What each kind can change in the rendered config:
 * - LINKS, SETTINGS: anything (the module's own tables);
 * - PROVIDER (a Sip row): the endpoint of the links using it, or whether they are rendered at
 *   all; only through the columns in PROVIDER_FIELDS, and only for a provider a link uses;
 * - ROOM (a ConferenceRooms row): the `room` of the links in it (its extension);
 * - AMI_PORT (PbxSettings AMIPort): `ami.port`.
 * Everything else (Providers rows: type/note only; Users, Extensions, …) changes nothing.
 */
final class ModelChange
{
    public const LINKS = 'links';
    public const SETTINGS = 'settings';
    public const PROVIDER = 'provider';
    public const ROOM = 'room';
    public const AMI_PORT = 'ami_port';

    public const LINKS_MODEL = 'Modules\\ModuleConferenceLink\\Models\\ConferenceLinks';
    public const SETTINGS_MODEL = 'Modules\\ModuleConferenceLink\\Models\\ConferenceLinkSettings';
    public const SIP_MODEL = 'MikoPBX\\Common\\Models\\Sip';
    public const ROOMS_MODEL = 'MikoPBX\\Common\\Models\\ConferenceRooms';
    public const PBX_SETTINGS_MODEL = 'MikoPBX\\Common\\Models\\PbxSettings';
    public const AMI_PORT_KEY = 'AMIPort';

    /** Sip columns ConfigService::providerEndpoints() reads (EndpointResolver's inputs). */
    public const PROVIDER_FIELDS = ['uniqid', 'type', 'disabled', 'registration_type', 'username'];

    /** ConferenceRooms columns the config reads: the extension, found by the uniqid. */
    public const ROOM_FIELDS = ['uniqid', 'extension'];

    private const KINDS = [
        self::LINKS_MODEL        => self::LINKS,
        self::SETTINGS_MODEL     => self::SETTINGS,
        self::SIP_MODEL          => self::PROVIDER,
        self::ROOMS_MODEL        => self::ROOM,
    ];

    /**
     * @param ?list<string> $fields changed columns; null when the message does not say
     */
    private function __construct(
        public readonly string $kind,
        public readonly string $recordId,
        public readonly string $action,
        public readonly ?array $fields,
    ) {
    }

    /** The change if it is of a kind the config depends on, else null (also for malformed input). */
    public static function fromMessage(mixed $data): ?self
    {
        if (!is_array($data) || !is_string($data['model'] ?? null)) {
            return null;
        }
        $model    = $data['model'];
        $recordId = $data['recordId'] ?? '';
        $recordId = is_int($recordId) || is_string($recordId) ? (string)$recordId : '';
        $action   = is_string($data['action'] ?? null) ? $data['action'] : '';
        if ($model === self::PBX_SETTINGS_MODEL) {
            return $recordId === self::AMI_PORT_KEY ? new self(self::AMI_PORT, $recordId, $action, null) : null;
        }
        $kind = self::KINDS[$model] ?? null;
        if ($kind === null) {
            return null;
        }

        return new self($kind, $recordId, $action, self::fieldList($data['changedFields'] ?? null));
    }

    /**
     * False when the message itself shows the change cannot matter: a saved provider or room
     * whose changed columns are all ones the config never reads. Deletes and messages without
     * a column list may matter.
     */
    public function fieldsMayMatter(): bool
    {
        $relevant = match ($this->kind) {
            self::PROVIDER => self::PROVIDER_FIELDS,
            self::ROOM     => self::ROOM_FIELDS,
            default        => null,
        };
        if ($relevant === null || $this->fields === null || $this->action !== 'afterSave') {
            return true;
        }

        return array_intersect($this->fields, $relevant) !== [];
    }

    /** Whether the change needs its record looked up to know if a link uses it. */
    public function isCoreRecord(): bool
    {
        return $this->kind === self::PROVIDER || $this->kind === self::ROOM;
    }

    /** @return ?list<string> */
    private static function fieldList(mixed $fields): ?array
    {
        if (!is_array($fields) || !array_is_list($fields)) {
            return null;
        }
        foreach ($fields as $field) {
            if (!is_string($field)) {
                return null;
            }
        }

        return $fields;
    }
}
