"""Install, enable, disable, upgrade and uninstall through MikoPBX Core's own code.

Each step is what the Modules page triggers (Core's REST actions, php/module-admin.php): the
zip `make package` builds is unpacked by Core's WorkerModuleInstaller and installed by Core's
installModule(); enable/disable go through PbxExtensionState; Core stops module workers with
busybox killall as on MikoPBX. Processes are checked in the session's own PID namespace.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zipfile
from pathlib import Path

import lab as labmod
import pytest
import yaml
from conflink.config import parse_config
from rig import CORE_PBX_VERSION, REPO, Rig, build_module_zip, build_release_zip

# 0.1.0, the previous release: this commit on main (tags are not relied on).
PREVIOUS_RELEASE = "48c6b7959a8ca4caeb974bf3c99a49244e43051b"
MODULE = "ModuleConferenceLink"
WRAPPER = "Modules\\ModuleConferenceLink\\Lib\\WorkerConferenceLinkPy"


@pytest.fixture(scope="session")
def current_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_module_zip(REPO, tmp_path_factory.mktemp("current"))


@pytest.fixture(scope="session")
def previous_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    z = build_release_zip(PREVIOUS_RELEASE, tmp_path_factory.mktemp("previous"))
    assert json.loads(zipfile.ZipFile(z).read("module.json"))["version"] == "0.1.0"
    return z


def module_row(rig: Rig) -> dict | None:
    return rig.php_json(
        f"$m = MikoPBX\\Common\\Models\\PbxExtensionModules::findFirstByUniqid('{MODULE}');"
        "return $m ? $m->toArray() : null;"
    )


def menu_item(rig: Rig) -> str | None:
    """The AdditionalMenuItem<ID> setting's value, None when there is no such row."""
    return rig.php_json(
        f"$r = MikoPBX\\Common\\Models\\PbxSettings::findFirstByKey('AdditionalMenuItem{MODULE}');"
        "return $r ? $r->value : null;"
    )


def settings_row(rig: Rig) -> dict:
    return rig.php_json(
        f"$r = Modules\\{MODULE}\\Models\\ConferenceLinkSettings::findFirst(); return $r ? $r->toArray() : null;"
    )


def worker_procs(procs: list[tuple[int, str]]) -> tuple[list[int], list[int]]:
    """(wrapper PIDs, Python worker PIDs)."""
    wrappers = [pid for pid, args in procs if args == WRAPPER]
    children = [pid for pid, args in procs if "conflink.worker" in args and "python3" in args]
    return wrappers, children


def running(procs: list[tuple[int, str]]) -> bool:
    w, c = worker_procs(procs)
    return len(w) == 1 and len(c) == 1


def install(rig: Rig, zip_path: Path, own_port: bool = True) -> dict:
    """Core's install of the zip. own_port: the rig runs several PBXs on one host, so a fresh
    install's worker gets a free control port instead of the default 7391 (set through the
    module's model, as a changed setting; a kept one is left alone)."""
    res = rig.admin("install", rig.upload(zip_path))
    assert res["success"], res
    if own_port:
        port = labmod.free_port_block()
        rig.php_json(
            f"$s = Modules\\{MODULE}\\Models\\ConferenceLinkSettings::findFirst();"
            f"if ((string)$s->control_port === '7391') {{ $s->control_port = '{port}';"
            " if (!$s->save()) { throw new RuntimeException(implode('; ', $s->getMessages())); } }"
            "return true;"
        )
    return res


def add_link(rig: Rig, room: dict, provider: str, dst: str, *, old_schema: bool = False) -> int:
    """A link saved through the installed module's own model (0.1.0 stored the room number)."""
    room_field = f"$l->conference_extension = '{room['extension']}';" if old_schema else \
        f"$l->conference_uniqid = '{room['uniqid']}';"
    return rig.php_json(
        f"$l = new Modules\\{MODULE}\\Models\\ConferenceLinks(); {room_field}"
        f"$l->provider_uniqid = '{provider}';"
        f"$l->dst_number = '{dst}'; $l->dtmf = '1234#'; $l->description = 'kept {dst}'; $l->enabled = '1';"
        "if (!$l->save()) { throw new RuntimeException(implode('; ', $l->getMessages())); }"
        "return (int)$l->id;"
    )


def rendered(rig: Rig) -> dict:
    """The worker config the module rendered into /etc/custom_modules/<ID>/."""
    return yaml.safe_load(rig.path(f"/etc/custom_modules/{MODULE}/conflink.yaml").read_text())


def assert_stopped_now(rig: Rig, action: str) -> None:
    """Disable and uninstall stop the worker before they return (not on a later poll)."""
    procs = rig.processes()
    assert procs == [], f"still running right after {action}: {procs}"


def test_install_from_the_package_zip(rig: Rig, current_zip: Path) -> None:
    meta = json.loads(zipfile.ZipFile(current_zip).read("module.json"))
    res = install(rig, current_zip, own_port=False)
    assert res["messages"] in ([], {}), res
    # Unpacked the way Core's installer does it: every entry of the zip, byte for byte in size.
    mod = rig.path(rig.module_dir)
    with zipfile.ZipFile(current_zip) as zf:
        files = [i for i in zf.infolist() if not i.is_dir()]
        for info in files:
            assert (mod / info.filename).stat().st_size == info.file_size, info.filename
    assert len(files) > 50
    for launcher in ("bin/conflink-worker", "bin/conflink-ctl"):
        assert (mod / launcher).stat().st_mode & 0o111, f"{launcher} not executable after fixFilesRights"
    # Registered (disabled until enabled), with module.json's fields.
    row = module_row(rig)
    assert row is not None
    assert (row["version"], row["disabled"], row["developer"], row["support_email"]) == (
        meta["version"], "1", meta["developer"], meta["support_email"])
    # Tables created from the models' annotations, every annotated column present.
    attrs = rig.php_json(
        "$md = Phalcon\\Di\\Di::getDefault()->get('modelsMetadata'); $out = [];"
        f"foreach (['ConferenceLinks', 'ConferenceLinkSettings'] as $c) {{"
        f" $m = '\\\\Modules\\\\{MODULE}\\\\Models\\\\' . $c; $o = new $m();"
        " $out[$o->getSource()] = $md->getAttributes($o); }"
        "return $out;"
    )
    db = sqlite3.connect(mod / "db" / "module.db")
    try:
        for table, columns in attrs.items():
            got = [r[1] for r in db.execute(f"PRAGMA table_info('{table}')")]
            assert got, f"table {table} missing"
            assert set(columns) <= set(got), (table, set(columns) - set(got))
    finally:
        db.close()
    assert set(attrs) == {"m_ConferenceLinks", "m_ConferenceLinkSettings"}
    # The settings row installDB() wrote: the module's AMI user, secret, control token and port.
    s = settings_row(rig)
    assert s["ami_username"].startswith("conflink_")
    assert len(s["ami_secret"]) >= 32 and len(s["control_token"]) >= 16
    assert str(s["control_port"]) == "7391"
    # The sidebar item Core's addToSidebar() stores.
    item = json.loads(menu_item(rig))
    assert (item["uniqid"], item["caption"], item["showAtSidebar"]) == (MODULE, f"Breadcrumb{MODULE}", True)
    assert rig.processes() == []  # installed, not enabled: nothing runs


def test_core_refuses_the_module_on_a_pbx_older_than_its_min_pbx_version(rig: Rig, current_zip: Path) -> None:
    """module.json's min_pbx_version is the release it is tested on; Core's installer holds an
    older PBX to it, says why, and registers nothing (the unpacked files stay: Core's doing)."""
    meta = json.loads(zipfile.ZipFile(current_zip).read("module.json"))
    assert meta["min_pbx_version"] == CORE_PBX_VERSION
    rig.php_json("MikoPBX\\Common\\Models\\PbxSettings::setValueByKey('PBXVersion', '2025.1.1'); return true;")
    res = rig.admin("install", rig.upload(current_zip))
    assert not res["success"], res
    assert meta["min_pbx_version"] in json.dumps(res, ensure_ascii=False), res
    assert module_row(rig) is None and menu_item(rig) is None


def test_enable_and_disable_start_and_stop_the_worker(rig: Rig, current_zip: Path) -> None:
    install(rig, current_zip)
    res = rig.admin("enable")
    assert res["success"], res
    assert module_row(rig)["disabled"] == "0"
    # The enable hooks ran: manager and dialplan reloads queued for WorkerModelsEvents, the worker
    # config rendered from the DB, the wrapper started.
    actions = [j.get("action") for j in rig.jobs()]
    assert "MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadManagerAction" in actions
    assert "MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadDialplanAction" in actions
    conf = rig.path(f"/etc/custom_modules/{MODULE}/conflink.yaml").read_text()
    assert settings_row(rig)["control_token"] in conf
    workers = rig.php_json(
        "return MikoPBX\\Common\\Providers\\PBXConfModulesProvider::hookModulesMethod("
        "MikoPBX\\Modules\\Config\\SystemConfigInterface::GET_MODULE_WORKERS);"
    )
    assert [w["worker"] for w in workers[MODULE]] == [WRAPPER]  # keyed by module ID
    procs = rig.wait_processes(running, what="wrapper and Python worker running")
    (wrapper,), (child,) = worker_procs(procs)
    ppid = rig.run(["ps", "-o", "ppid=", "-p", str(child)]).stdout.strip()
    assert ppid == str(wrapper), "the Python worker is the wrapper's child"
    # How MikoPBX finds the wrapper: busybox killall matches argv[0] (the process title Core's
    # WorkerBase sets); Debian's psmisc killall compares comm ("php") only and misses it.
    assert rig.run(["busybox", "killall", "-0", WRAPPER]).returncode == 0
    assert rig.run(["/usr/bin/killall", "-0", WRAPPER]).returncode != 0
    assert rig.run(["busybox", "killall", "-0", "python3"]).returncode == 0  # only by its own name
    assert rig.run(["busybox", "killall", "-0", "conflink-worker"]).returncode != 0

    res = rig.admin("disable")
    assert res["success"], res
    assert module_row(rig)["disabled"] == "1"
    assert_stopped_now(rig, "disable")
    assert list(rig.path(f"/var/run/custom_modules/{MODULE}").glob("*.pid")) == []


def test_disable_stops_the_worker_by_its_pid_files_when_killall_finds_nothing(current_zip: Path) -> None:
    """The module does not depend on Core's killall matching its process title."""
    with Rig.open("nokill", killall="none") as rig:
        install(rig, current_zip)
        assert rig.admin("enable")["success"]
        rig.wait_processes(running, what="worker running")
        assert rig.admin("disable")["success"]
        assert_stopped_now(rig, "disable")
        # Re-installing over an enabled module (Core's upgrade path: disable, uninstall keeping
        # settings, install, enable again) leaves exactly one fresh wrapper.
        assert rig.admin("enable")["success"]
        before = rig.wait_processes(running, what="worker running")
        install(rig, current_zip)
        assert rig.admin("post-install")["success"]
        after = rig.wait_processes(
            lambda p: running(p) and not set(worker_procs(p)[0]) & set(worker_procs(before)[0]),
            what="a new wrapper replaced the old one",
        )
        assert not {pid for pid, _ in before} & {pid for pid, _ in after}
        res = rig.admin("uninstall", "0")
        assert res["success"], res
        assert_stopped_now(rig, "uninstall")


def test_upgrade_from_the_previous_release_keeps_links_and_settings(
    rig: Rig, previous_zip: Path, current_zip: Path
) -> None:
    rooms = [rig.add_room("3101", "Board room"), rig.add_room("3102", "Ops room")]
    provider = rig.add_provider("Far PBX")
    install(rig, previous_zip)
    assert module_row(rig)["version"] == "0.1.0"
    assert rig.admin("enable")["success"]
    ids = [add_link(rig, room, provider, f"555010{i}", old_schema=True) for i, room in enumerate(rooms)]
    # 0.1.0 rows name a room by number; this number belongs to no room.
    orphan = add_link(rig, {"extension": "3999"}, provider, "5550199", old_schema=True)
    settings = settings_row(rig)
    old = rig.wait_processes(running, what="0.1.0 worker running")

    t0 = time.time()
    res = install(rig, current_zip)
    assert res["data"].get("moduleWasEnabled") is True, res
    # Core's disable ran the 0.1.0 hooks and its killall: the old processes went at once.
    assert rig.admin("post-install")["success"]  # WorkerApiCommands' second phase: enable again
    row = module_row(rig)
    assert (row["version"], row["disabled"]) == ("0.2.0", "0")
    # Settings survived (Core backs up db/ and restores it before installDB()): the AMI user the
    # running Asterisk knows, the token the worker expects.
    now = settings_row(rig)
    for key in ("ami_username", "ami_secret", "control_token", "control_port"):
        assert str(now[key]) == str(settings[key]), key
    links = rig.php_json(
        f"return Modules\\{MODULE}\\Models\\ConferenceLinks::find(['order' => 'id'])->toArray();"
    )
    by_id = {int(x["id"]): x for x in links}
    assert sorted(by_id) == sorted([*ids, orphan])
    for i, (link_id, room) in enumerate(zip(ids, rooms, strict=True)):
        link = by_id[link_id]
        assert (link["provider_uniqid"], link["dst_number"], link["dtmf"], link["description"]) == (
            provider, f"555010{i}", "1234#", f"kept 555010{i}")
        assert link["conference_uniqid"] == room["uniqid"]  # 0.1.0's room number migrated
        # 0.2.0's new columns got their defaults on the old rows.
        assert (link["preset"], link["meeting_id"], link["passcode"], link["dtmf_mode"]) == ("custom", "", "", "auto")
        assert (str(link["prompt_silence"]), str(link["prompt_timeout"])) == ("1", "20")
        assert (int(link["dead_air"]), int(link["end_cooldown"])) == (0, 120)
        # Keys from the room stay off on a 0.1.0 link (only a new link starts with *6), in
        # the row and in what the form shows.
        assert link["room_keys"] == ""
        shown = rig.php_json(
            f"return Modules\\{MODULE}\\App\\Lib\\LinkInput::forForm("
            f"Modules\\{MODULE}\\Models\\ConferenceLinks::findFirstById({link_id})->toArray())['room_keys'];"
        )
        assert shown == ""
    assert by_id[orphan]["conference_uniqid"] == ""
    db = sqlite3.connect(rig.path(f"{rig.module_dir}/db/module.db"))
    try:
        cols = [r[1] for r in db.execute("PRAGMA table_info('m_ConferenceLinks')")]
    finally:
        db.close()
    assert "conference_extension" not in cols
    # The worker config rendered by the new code: both links, by room number; the orphan left out.
    doc = rendered(rig)
    got = {(lk["room"], lk["number"]) for lk in doc["links"]}
    assert got == {("3101", "5550100"), ("3102", "5550101")}, doc["links"]
    for lk in doc["links"]:
        assert not {"prompt_silence", "prompt_timeout", "dtmf_mode", "dead_air", "end_cooldown",
                    "room_keys", "max_call_minutes", "daily_minutes", "schedule", "schedule_end",
                    "announce", "dial_via"} & set(lk)
        assert lk["endpoint"]  # a 0.1.0 link keeps dialling its provider
    # ...and the worker reads that as "forward no keys from the room", as 0.1.0 did.
    assert [lk.room_keys for lk in parse_config(doc).links] == ["", ""]
    # installDB() runs again on every re-install: a second run changes nothing.
    assert rig.php_json(f"return (new Modules\\{MODULE}\\Setup\\PbxExtensionSetup('{MODULE}'))->installDB();") is True
    assert settings_row(rig) == now
    assert rig.php_json(
        f"return Modules\\{MODULE}\\Models\\ConferenceLinks::find(['order' => 'id'])->toArray();"
    ) == links
    # The old version's processes are gone; one new wrapper and worker run the new code.
    new = rig.wait_processes(running, what="0.2.0 worker running")
    assert not {pid for pid, _ in old} & {pid for pid, _ in new}, (old, new)
    (wrapper,), _ = worker_procs(new)
    started = rig.run(["stat", "-c", "%Y", f"/proc/{wrapper}"]).stdout.strip()
    assert int(started) >= int(t0) - 1
    # Only 0.2.0's wrapper writes this file: the running one is the new code.
    pid_file = rig.path(f"/var/run/custom_modules/{MODULE}/conflink-wrapper.pid")
    assert pid_file.read_text().strip() == str(wrapper)


@pytest.mark.parametrize("keep", [False, True], ids=["settings-removed", "settings-kept"])
def test_uninstall_leaves_nothing_behind(rig: Rig, current_zip: Path, keep: bool) -> None:
    room = rig.add_room("3103", "Ops")
    provider = rig.add_provider("Carrier")
    install(rig, current_zip)
    assert rig.admin("enable")["success"]
    add_link(rig, room, provider, "5550101")
    rig.wait_processes(running, what="worker running")
    logs = rig.path(f"{rig.logs_dir}/{MODULE}")
    assert logs.is_dir()

    res = rig.admin("uninstall", "1" if keep else "0")
    assert res["success"], res
    assert_stopped_now(rig, "uninstall")
    assert not rig.path(rig.module_dir).exists()
    assert module_row(rig) is None
    assert not rig.path(f"/etc/custom_modules/{MODULE}").exists()
    assert not rig.path(f"/var/run/custom_modules/{MODULE}").exists()
    for link in [f"sites/admin-cabinet/assets/{kind}/cache/{MODULE}" for kind in ("js", "css", "img")] + [
            f"src/AdminCabinet/Views/Modules/{MODULE}"]:
        assert not rig.path(f"{rig.core}/{link}").is_symlink(), f"{link} left behind"
    backup = rig.path(f"{rig.modules_dir}/Backup/{MODULE}/db/module.db")
    if keep:
        # What the administrator kept: the database (links and settings), the menu item, the logs.
        db = sqlite3.connect(backup)
        try:
            assert db.execute("SELECT dst_number FROM m_ConferenceLinks").fetchall() == [("5550101",)]
        finally:
            db.close()
        assert json.loads(menu_item(rig))["uniqid"] == MODULE
        assert logs.is_dir()
    else:
        assert not backup.exists()
        assert menu_item(rig) is None
        assert not logs.exists()
