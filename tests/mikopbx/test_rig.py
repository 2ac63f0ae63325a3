"""The rig itself: Core's real bootstrap, database and process model on phalcon/phalcon v6."""

from __future__ import annotations

import time

from rig import CORE_PBX_VERSION, ROOT, Rig, read_pins


def test_core_and_phalcon_come_from_the_pinned_commits(rig: Rig) -> None:
    pins = {p.repo: p.commit for p in read_pins()}
    ready = (ROOT / rig.sources.relative_to("/") / ".ready").read_text()
    for repo, commit in pins.items():
        assert f'"{repo}": "{commit}"' in ready
    got = rig.php_json(
        "return [PHP_VERSION, (new ReflectionClass(Phalcon\\Mvc\\Model::class))->getFileName(),"
        " (new ReflectionClass(MikoPBX\\Common\\Models\\PbxSettings::class))->getFileName(),"
        " get_class(Phalcon\\Di\\Di::getDefault())];"
    )
    assert got[0].startswith("8.4.")
    assert got[1].startswith(f"{rig.core}/vendor/phalcon-phalcon/src/")
    assert got[2].startswith(f"{rig.core}/src/Common/Models/")
    assert got[3] == "Phalcon\\Di\\FactoryDefault\\Cli"


def test_core_database_made_current_by_core_code(rig: Rig) -> None:
    got = rig.php_json(
        "$db = Phalcon\\Di\\Di::getDefault()->get('db');"
        "$tables = $db->listTables();"
        "$cols = array_map(fn ($c) => $c->getName(), $db->describeColumns('m_PbxSettings'));"
        "return [$tables, $cols, MikoPBX\\Common\\Models\\PbxSettings::getValueByKey('PBXVersion'),"
        " $db->getDescriptor()['dbname']];"
    )
    tables, cols, version, dbname = got
    # UpdateDatabase creates what the shipped DB lacks (m_OutWorkTimesRouts is one of them).
    for t in ("m_PbxSettings", "m_ConferenceRooms", "m_Providers", "m_Sip", "m_PbxExtensionModules",
              "m_OutWorkTimesRouts"):
        assert t in tables
    assert len([t for t in tables if t.startswith("m_")]) >= 35
    assert {"key", "value"} <= set(cols)
    assert version == CORE_PBX_VERSION
    assert dbname == rig.db_file


def test_docblock_annotations_bridge_reads_core_models(rig: Rig) -> None:
    got = rig.php_json(
        "$md = Phalcon\\Di\\Di::getDefault()->get('modelsMetadata');"
        "$m = new MikoPBX\\Common\\Models\\ConferenceRooms();"
        "return [$md->getPrimaryKeyAttributes($m), $md->getIdentityField($m), $md->getAttributes($m)];"
    )
    assert got[0] == ["id", "uniqid"]  # as ConferenceRooms declares (@Primary on both)
    assert got[1] == "id"
    assert {"uniqid", "extension", "name", "pinCode"} <= set(got[2])


def test_core_finds_busybox_killall_and_the_session_is_isolated(rig: Rig) -> None:
    got = rig.php_json("return [MikoPBX\\Core\\System\\Util::which('killall')];")
    assert got[0] == f"{rig.inner}/bin/killall"
    assert rig.run(["readlink", got[0]]).stdout.strip() == "/bin/busybox"
    assert rig.processes() == []  # a new PID namespace: nothing of other sessions or the host


def test_closing_a_session_ends_its_processes() -> None:
    rig = Rig.open(name="close")
    try:
        rig.run(["sh", "-c", "nohup sleep 300 >/dev/null 2>&1 &"]).check("sleep")
        deadline = time.monotonic() + 10
        while not rig.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [a for _, a in rig.processes()] == ["sleep 300"]
        init = rig._init_pid
    finally:
        rig.close()
    assert not (ROOT / f"proc/{init}").exists()
    assert not rig.host.exists()


def test_a_downloaded_tarball_is_unpacked_like_the_local_one(tmp_path) -> None:
    """GitHub's codeload tarball has one top folder <repo>-<commit>/; only the pinned paths stay,
    and nothing may land outside the target."""
    import io
    import tarfile

    from rig import _extract

    archive = tmp_path / "core.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in (("Core-abc/src/A.php", b"<?php"), ("Core-abc/tests/T.php", b"x"),
                           ("Core-abc/resources/db/mikopbx.db", b"db"), ("Core-abc/../evil", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    dest = tmp_path / "out"
    dest.mkdir()
    _extract(archive, dest, ("src", "resources/db/mikopbx.db"))
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == ["resources/db/mikopbx.db", "src/A.php"]
    assert not (tmp_path / "evil").exists()


def test_without_local_tarballs_or_network_the_rig_fails_and_says_why(tmp_path, monkeypatch) -> None:
    import pytest
    import rig as rigmod

    monkeypatch.setattr(rigmod, "VENDOR", tmp_path / "no-vendor")
    monkeypatch.setattr(rigmod, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(rigmod, "DOWNLOAD_URL", "http://127.0.0.1:9/{repo}/{commit}")  # nothing listens
    with pytest.raises(rigmod.RigError, match=r"no local tarball at .*no-vendor.* and the download from"):
        rigmod.ensure_sources()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".lock"]  # no half-built cache left
