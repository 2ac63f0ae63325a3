<?php

/*
 * ModuleConferenceLink — keeps an external party in a MikoPBX conference room.
 * GPL-3.0-or-later.
 */

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Lib;

use PDO;
use Throwable;

/**
 * Upgrade from 0.1.0: links stored their room's number (conference_extension); they now store
 * the room's uniqid (conference_uniqid), so a renumbered room keeps its links.
 *
 * Why here and before core: core's createUpdateDbTableByAnnotations rebuilds the table from the
 * model on install; a column the model no longer has is not copied (full copy of the shared
 * columns only), so the old numbers would be gone before PbxExtensionSetup::installDB() could
 * read them. This step runs first, on the module's SQLite file: it adds conference_uniqid and
 * fills it from the room numbers; core's rebuild then keeps conference_uniqid and drops
 * conference_extension. Idempotent: rows that already have a uniqid are left alone, and a table
 * without conference_extension (a fresh install, or already migrated) is not touched.
 * A number no room has any more (renumbered under 0.1.0, which lost the link already) leaves
 * the uniqid empty: the link is kept, shown without a room, and the administrator picks one.
 */
final class RoomIdMigration
{
    public const TABLE = 'm_ConferenceLinks';
    public const OLD_COLUMN = 'conference_extension';
    public const NEW_COLUMN = 'conference_uniqid';

    /**
     * @param array<int|string, string> $uniqidByExtension every room: extension => uniqid
     *
     * @return array{migrated: int, unmatched: list<array{id: string, extension: string}>}
     */
    public static function run(PDO $db, array $uniqidByExtension): array
    {
        $report  = ['migrated' => 0, 'unmatched' => []];
        $columns = self::columns($db);
        if (!in_array(self::OLD_COLUMN, $columns, true)) {
            return $report;
        }
        $db->beginTransaction();
        try {
            if (!in_array(self::NEW_COLUMN, $columns, true)) {
                $db->exec('ALTER TABLE ' . self::TABLE . ' ADD COLUMN ' . self::NEW_COLUMN . " VARCHAR DEFAULT ''");
            }
            $rows   = $db->query('SELECT id, ' . self::OLD_COLUMN . ' AS ext, ' . self::NEW_COLUMN . ' AS uid FROM ' . self::TABLE . ' ORDER BY id')
                ->fetchAll(PDO::FETCH_ASSOC);
            $update = $db->prepare('UPDATE ' . self::TABLE . ' SET ' . self::NEW_COLUMN . ' = :uid WHERE id = :id');
            foreach ($rows as $row) {
                if ((string)($row['uid'] ?? '') !== '') {
                    continue;
                }
                $extension = (string)($row['ext'] ?? '');
                $uniqid    = $uniqidByExtension[$extension] ?? null;
                if ($uniqid === null || $uniqid === '') {
                    $report['unmatched'][] = ['id' => (string)$row['id'], 'extension' => $extension];
                    continue;
                }
                $update->execute(['uid' => $uniqid, 'id' => $row['id']]);
                $report['migrated']++;
            }
            $db->commit();
        } catch (Throwable $e) {
            $db->rollBack();
            throw $e;
        }

        return $report;
    }

    /** @return list<string> column names; [] when the table does not exist */
    private static function columns(PDO $db): array
    {
        $names = [];
        foreach ($db->query('PRAGMA table_info(' . self::TABLE . ')')->fetchAll(PDO::FETCH_ASSOC) as $column) {
            $names[] = (string)$column['name'];
        }

        return $names;
    }
}
