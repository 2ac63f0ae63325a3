<?php

declare(strict_types=1);

namespace Modules\ModuleConferenceLink\Tests\Php\Unit;

use Modules\ModuleConferenceLink\Lib\RoomIdMigration;
use PDO;
use PHPUnit\Framework\TestCase;

/**
 * The 0.1.0 → 0.2.0 room migration on a real SQLite file shaped like the one 0.1.0 installed.
 * The whole upgrade through core's installer is the MikoPBX rig's test (tests/mikopbx).
 */
final class RoomIdMigrationTest extends TestCase
{
    private PDO $db;

    /** The columns core created for 0.1.0's model, in its order. */
    private const V010_COLUMNS = 'id INTEGER PRIMARY KEY AUTOINCREMENT, conference_extension VARCHAR NOT NULL, '
        . "provider_uniqid VARCHAR NOT NULL, dst_number VARCHAR NOT NULL, dtmf VARCHAR DEFAULT '', "
        . "enabled VARCHAR(1) DEFAULT '1', description VARCHAR DEFAULT ''";

    private const ROOMS = ['354233' => 'CONFERENCE-AAAA1111', '0354233' => 'CONFERENCE-BBBB2222', '2200' => 'CONFERENCE-CCCC3333'];

    protected function setUp(): void
    {
        self::assertTrue(extension_loaded('pdo_sqlite'), 'needs PHP pdo_sqlite (php-sqlite3), as MikoPBX has');
        $file     = Support::tempDir('migrate') . '/module.db';
        $this->db = new PDO('sqlite:' . $file, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    }

    protected function tearDown(): void
    {
        Support::removeAll();
    }

    private function v010Table(): void
    {
        $this->db->exec('CREATE TABLE m_ConferenceLinks (' . self::V010_COLUMNS . ')');
        $insert = $this->db->prepare('INSERT INTO m_ConferenceLinks (id, conference_extension, provider_uniqid, dst_number, description) VALUES (?, ?, ?, ?, ?)');
        $insert->execute([3, '354233', 'SIP-1', '84957776675', 'weekly']);
        $insert->execute([5, '0354233', 'SIP-1', '100', '']);
        $insert->execute([9, '777', 'SIP-2', '200', 'room renumbered under 0.1.0']);
    }

    /** @return array<string, string> id => conference_uniqid */
    private function uniqids(): array
    {
        return array_column($this->db->query('SELECT id, conference_uniqid FROM m_ConferenceLinks ORDER BY id')->fetchAll(PDO::FETCH_ASSOC), 'conference_uniqid', 'id');
    }

    public function testLinksGetTheirRoomsUniqidAndKeepEverythingElse(): void
    {
        $this->v010Table();
        $report = RoomIdMigration::run($this->db, self::ROOMS);
        self::assertSame(2, $report['migrated']);
        self::assertSame([['id' => '9', 'extension' => '777']], $report['unmatched']);
        self::assertSame(['3' => 'CONFERENCE-AAAA1111', '5' => 'CONFERENCE-BBBB2222', '9' => ''], $this->uniqids());
        $row = $this->db->query('SELECT * FROM m_ConferenceLinks WHERE id = 3')->fetch(PDO::FETCH_ASSOC);
        self::assertSame(['SIP-1', '84957776675', 'weekly'], [$row['provider_uniqid'], $row['dst_number'], $row['description']]);
    }

    public function testCoresRebuildFromTheNewModelKeepsTheUniqid(): void
    {
        $this->v010Table();
        RoomIdMigration::run($this->db, self::ROOMS);
        // What createUpdateDbTableByAnnotations does when the model lost a column: a new table
        // from the model, and a copy of the columns both have.
        $this->db->exec('ALTER TABLE m_ConferenceLinks RENAME TO backup');
        $this->db->exec("CREATE TABLE m_ConferenceLinks (id INTEGER PRIMARY KEY AUTOINCREMENT, conference_uniqid VARCHAR DEFAULT '', provider_uniqid VARCHAR NOT NULL, dst_number VARCHAR NOT NULL, dtmf VARCHAR DEFAULT '', enabled VARCHAR(1) DEFAULT '1', description VARCHAR DEFAULT '')");
        $this->db->exec('INSERT INTO m_ConferenceLinks (id, conference_uniqid, provider_uniqid, dst_number, dtmf, enabled, description) SELECT id, conference_uniqid, provider_uniqid, dst_number, dtmf, enabled, description FROM backup');
        self::assertSame(['3' => 'CONFERENCE-AAAA1111', '5' => 'CONFERENCE-BBBB2222', '9' => ''], $this->uniqids());
        // Run again on the next upgrade: nothing left to do, nothing touched.
        self::assertSame(['migrated' => 0, 'unmatched' => []], RoomIdMigration::run($this->db, []));
        self::assertSame(['3' => 'CONFERENCE-AAAA1111', '5' => 'CONFERENCE-BBBB2222', '9' => ''], $this->uniqids());
    }

    public function testASecondRunBeforeCoreRebuiltLeavesMigratedRowsAlone(): void
    {
        $this->v010Table();
        RoomIdMigration::run($this->db, self::ROOMS);
        // The rooms changed meanwhile: already migrated rows must not follow a number again.
        $report = RoomIdMigration::run($this->db, ['354233' => 'CONFERENCE-OTHER', '777' => 'CONFERENCE-DDDD4444']);
        self::assertSame(1, $report['migrated']);
        self::assertSame(['3' => 'CONFERENCE-AAAA1111', '5' => 'CONFERENCE-BBBB2222', '9' => 'CONFERENCE-DDDD4444'], $this->uniqids());
    }

    public function testFreshInstallAndMissingTableAreNotTouched(): void
    {
        self::assertSame(['migrated' => 0, 'unmatched' => []], RoomIdMigration::run($this->db, self::ROOMS));
        self::assertSame([], $this->db->query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")->fetchAll());
        $this->db->exec("CREATE TABLE m_ConferenceLinks (id INTEGER PRIMARY KEY, conference_uniqid VARCHAR DEFAULT '', provider_uniqid VARCHAR)");
        self::assertSame(['migrated' => 0, 'unmatched' => []], RoomIdMigration::run($this->db, self::ROOMS));
    }

    public function testAFailedStepChangesNothing(): void
    {
        $this->v010Table();
        // A trigger that refuses the update stands in for a write error half-way.
        $this->db->exec("CREATE TRIGGER refuse BEFORE UPDATE ON m_ConferenceLinks WHEN NEW.id = 5 BEGIN SELECT RAISE(ABORT, 'disk full'); END");
        try {
            RoomIdMigration::run($this->db, self::ROOMS);
            self::fail('no error');
        } catch (\PDOException $e) {
            self::assertStringContainsString('disk full', $e->getMessage());
        }
        $columns = array_column($this->db->query('PRAGMA table_info(m_ConferenceLinks)')->fetchAll(PDO::FETCH_ASSOC), 'name');
        self::assertNotContains('conference_uniqid', $columns, 'the added column was not rolled back');
        self::assertContains('conference_extension', $columns);
    }
}
