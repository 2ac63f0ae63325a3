"""The module's hooks as MikoPBX Core calls them.

- extensionGenContexts / generateManagerConf through Core's own generators (InternalContexts'
  modules block, ManagerConf::generateConfig) loaded into the lab's real Asterisk 22;
- core model saves (Core's models, fresh processes as on a PBX) → Core's WorkerModelsEvents
  (modelsEventChangeData per change, modelsEventNeedReload at the batch end) → the worker config
  the module renders and pushes to its running worker;
- deleting a room or provider a link uses is refused by Core's ModelsBase with the module's text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import lab as labmod
import pytest
import yaml
from rig import REPO, Rig, build_module_zip
from test_install import MODULE, add_link, install, running

CTL_LOG = "ctl-calls.log"
PHONES = 500  # a bulk import's size; each save is a Core model save and a WorkerModelsEvents job


@pytest.fixture(scope="module")
def current_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_module_zip(REPO, tmp_path_factory.mktemp("hooks-zip"))


@pytest.fixture
def pbx(rig: Rig, current_zip: Path) -> Iterator[dict]:
    """An enabled module with a running worker, two rooms, a provider a link uses and one it does
    not, one link; the batch of that setup processed. conflink-ctl counts its runs."""
    rooms = {"a": rig.add_room("3301", "Board room"), "b": rig.add_room("3302", "Ops room")}
    used, spare = rig.add_provider("Far PBX"), rig.add_provider("Spare carrier", username="spare")
    install(rig, current_zip)
    assert rig.admin("enable")["success"]
    link = add_link(rig, rooms["a"], used, "5550100")
    rig.wait_processes(running, what="worker running")
    # Count pushes: the installed launcher is wrapped by one that logs each run, then runs it.
    ctl = rig.path(f"{rig.module_dir}/bin/conflink-ctl")
    ctl.rename(ctl.with_name("conflink-ctl.real"))
    ctl.write_text(f'#!/bin/sh\necho "$*" >> {rig.inner}/{CTL_LOG}\nexec "$0.real" "$@"\n')
    ctl.chmod(0o755)
    batch(rig)
    (rig.host / CTL_LOG).unlink(missing_ok=True)
    yield {"rig": rig, "rooms": rooms, "used": used, "spare": spare, "link": link}


def batch(rig: Rig) -> dict:
    """Core's WorkerModelsEvents over the queued changes, then its idle timeout ends the batch."""
    res = rig.php_file(f"{rig.inner}/rig/models-events.php", timeout=300)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert res.returncode == 0 and lines, f"models-events.php failed:\n{res.stdout}\n{res.stderr}"
    out = json.loads(lines[-1])
    out["pushes"] = pushes(rig)
    problems = [ln for ln in res.stderr.splitlines() if re.search(r"Warning|Fatal|Uncaught|SHUTDOWN-ERROR", ln)
                and "ModuleConferenceLink" in ln]
    out["problems"] = problems
    return out


def settle(rig: Rig, timeout: float = 20.0) -> None:
    """Waits until no config change is marked: pushed at its batch end, or — when Core ended that
    batch before the change was noted — by the wrapper once the mark is stale (ConfigBatch)."""
    mark = rig.path(f"/var/run/custom_modules/{MODULE}/config.dirty")
    labmod.wait_until(lambda: not mark.exists(), timeout, "the config change marked dirty was pushed", interval=0.2)


def expect_pushes(rig: Rig, before: int, n: int, timeout: float = 20.0) -> None:
    """Exactly n more pushes: the batch end pushes, or — when Core ended that batch before the
    change was noted, or a busy machine let the mark go stale first — the wrapper does, which
    may finish just after the batch script. Waits for n, then checks no further one follows."""
    labmod.wait_value(lambda: pushes(rig) >= before + n, timeout, f"{n} push(es) after {before}",
                      lambda: f"saw {pushes(rig) - before}\n{diagnostics(rig)}", interval=0.2)
    settle(rig)
    labmod.observe(1.0, "a push beyond the expected ones")
    assert pushes(rig) == before + n, f"expected {n} push(es), saw {pushes(rig) - before}\n{diagnostics(rig)}"


def diagnostics(rig: Rig) -> str:
    """What a failed push assertion needs: ctl runs, the processes, the worker's log tail."""
    ctl = rig.host / CTL_LOG
    log = rig.path(f"{rig.logs_dir}/{MODULE}/conflink-worker.log")
    return (f"ctl runs: {ctl.read_text() if ctl.exists() else '-'}\nprocesses: {rig.processes()}\n"
            f"worker log: {log.read_text()[-1500:] if log.exists() else '-'}")


def pushes(rig: Rig) -> int:
    f = rig.host / CTL_LOG
    return sum(1 for ln in f.read_text().split("\n") if " push-config " in f" {ln} ") if f.exists() else 0


def links_in_config(rig: Rig) -> list[dict]:
    doc = yaml.safe_load(rig.path(f"/etc/custom_modules/{MODULE}/conflink.yaml").read_text())
    return doc["links"] or []


def php(rig: Rig, code: str) -> object:
    return rig.php_json(code)


def test_dialplan_and_manager_user_from_core_generators_load_into_asterisk(rig: Rig, current_zip: Path) -> None:
    install(rig, current_zip)
    assert rig.admin("enable")["success"]
    res = rig.php_file(f"{rig.inner}/rig/asterisk-conf.php").check("asterisk-conf.php")
    conf = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1])
    block = re.compile(rf"; \*\*\*\*\* BEGIN BY {MODULE}\n(.*?); \*\*\*\*\* END BY {MODULE}", re.S)
    dialplan = block.search(conf["dialplan"])
    manager = block.search(conf["manager"])
    assert dialplan and manager, "Core's generators did not include the module's blocks"
    assert "[conflink-join]" in dialplan.group(1)
    settings = php(rig, f"return Modules\\{MODULE}\\Models\\ConferenceLinkSettings::findFirst()->toArray();")
    user, secret = settings["ami_username"], settings["ami_secret"]
    assert f"[{user}]" in manager.group(1) and f"secret={secret}" in manager.group(1)

    with labmod.Lab(name="rig-hooks", join_dialplan=dialplan.group(0)) as lab:  # checks conflink-join loaded
        shown = lab.cli("dialplan show conflink-join")
        assert "'conflink-join'" in shown and "ConfBridge" in shown, shown
        etc = lab.dir / "etc" / "manager.conf"
        etc.write_text(etc.read_text() + "\n" + manager.group(0) + "\n")
        lab.cli("manager reload")
        shown = lab.cli(f"manager show user {user}")
        assert re.search(rf"username: {user}\n", shown), shown
        assert re.search(r"read perm: system,call,user,dtmf\n", shown), shown
        assert re.search(r"write perm: call,reporting,originate\n", shown), shown
        # The localhost-only ACL Core wrote: deny all, then allow 127.0.0.1.
        acl = r"0:\s+deny - 0\.0\.0\.0/0\.0\.0\.0\n\s+1: allow - 127\.0\.0\.1/255\.255\.255\.255"
        assert re.search(acl, shown), shown
        # The worker's user really logs in with the secret from the module's settings row.
        ami = labmod.AmiClient("127.0.0.1", lab.ami_port, user, secret)
        try:
            pong = ami.action({"Action": "Ping"})
            assert pong[0].get("Response") == "Success", pong
        finally:
            ami.close()


def test_core_model_saves_reach_the_worker_config_once_per_batch(pbx: dict) -> None:
    rig: Rig = pbx["rig"]
    rooms, used, spare = pbx["rooms"], pbx["used"], pbx["spare"]
    assert [(lk["room"], lk["number"], lk["endpoint"]) for lk in links_in_config(rig)] == [("3301", "5550100", used)]

    # A room renamed, an unused provider edited, a phone edited: nothing the worker sees changes.
    php(rig, f"$r = MikoPBX\\Common\\Models\\ConferenceRooms::findFirstByUniqid('{rooms['a']['uniqid']}');"
             "$r->name = 'Board room (renamed)'; return $r->save();")
    php(rig, f"$s = MikoPBX\\Common\\Models\\Sip::findFirstByUniqid('{spare}'); $s->host = '127.0.0.2';"
             "return $s->save();")
    php(rig, "$e = MikoPBX\\Common\\Models\\Extensions::findFirst(\"type = 'SIP'\"); $e->callerid = 'Edited';"
             "return $e->save();")
    out = batch(rig)
    assert out["jobs"] >= 3 and out["problems"] == [], out
    assert not rig.path(f"/var/run/custom_modules/{MODULE}/config.dirty").exists(), "marked: a push would follow"
    expect_pushes(rig, 0, 0)
    assert [lk["room"] for lk in links_in_config(rig)] == ["3301"]

    # PHONES phones saved in one go (a bulk import) and, in the same batch, the linked room renumbered
    # the way the room page saves it: one render and push, at the batch end only.
    t0 = time.monotonic()
    php(rig, f"for ($i = 0; $i < {PHONES}; $i++) {{ $s = new MikoPBX\\Common\\Models\\Sip();"
             " $s->uniqid = 'SIP-PHONE-RIG' . $i; $s->type = 'peer'; $s->extension = (string)(4000 + $i);"
             " $s->disabled = '0'; if (!$s->save()) { throw new RuntimeException(implode(';', $s->getMessages())); } }"
             "return true;")
    t1 = time.monotonic()
    php(rig, f"$r = MikoPBX\\Common\\Models\\ConferenceRooms::findFirstByUniqid('{rooms['a']['uniqid']}');"
             "$e = MikoPBX\\Common\\Models\\Extensions::findFirstByNumber($r->extension);"
             "$e->number = '3311'; if (!$e->save()) { throw new RuntimeException(implode(';', $e->getMessages())); }"
             "$r = MikoPBX\\Common\\Models\\ConferenceRooms::findFirstByUniqid($r->uniqid); $r->extension = '3311';"
             "return $r->save();")
    out = batch(rig)
    print(f"{PHONES} phone saves: {t1 - t0:.1f} s; WorkerModelsEvents batch: {time.monotonic() - t1:.1f} s")
    assert out["jobs"] >= PHONES + 1 and out["problems"] == [], {k: v for k, v in out.items() if k != "planned"}
    expect_pushes(rig, 0, 1)
    assert [(lk["room"], lk["number"]) for lk in links_in_config(rig)] == [("3311", "5550100")]
    assert not rig.path(f"/var/run/custom_modules/{MODULE}/config.dirty").exists()

    # The provider the link uses is disabled: the link leaves the worker config. (Core ends this
    # batch at once — a Sip save plans ReloadAdviceAction — before the module notes the change;
    # the wrapper pushes the stale mark.)
    php(rig, f"$s = MikoPBX\\Common\\Models\\Sip::findFirstByUniqid('{used}'); $s->disabled = '1'; return $s->save();")
    before = pushes(rig)
    out = batch(rig)
    assert out["problems"] == [], out
    expect_pushes(rig, before, 1)
    assert links_in_config(rig) == []
    php(rig, f"$s = MikoPBX\\Common\\Models\\Sip::findFirstByUniqid('{used}'); $s->disabled = '0'; return $s->save();")
    before = pushes(rig)
    batch(rig)
    expect_pushes(rig, before, 1)
    assert [lk["endpoint"] for lk in links_in_config(rig)] == [used]

    # An unused provider deleted: allowed, and the links stay as they are.
    php(rig, f"$p = MikoPBX\\Common\\Models\\Providers::findFirstByUniqid('{spare}'); return $p->delete();")
    out = batch(rig)
    assert out["problems"] == [], out
    settle(rig)
    assert [(lk["room"], lk["endpoint"]) for lk in links_in_config(rig)] == [("3311", used)]

    # The module's own settings row: the manager is reloaded (its AMI user), pushed at the batch end.
    # (A new AMI secret: Asterisk must learn it from manager.conf, the worker from its config.)
    php(rig, f"$s = Modules\\{MODULE}\\Models\\ConferenceLinkSettings::findFirst();"
             f"$s->ami_secret = '{'ab' * 16}'; return $s->save();")
    before = pushes(rig)
    out = batch(rig)
    # modelsEventChangeData queued Core's manager reload; the same batch ran it, then pushed.
    assert any(a.endswith("ReloadManagerAction") for a in out["executed"]), out
    expect_pushes(rig, before, 1)
    doc = yaml.safe_load(rig.path(f"/etc/custom_modules/{MODULE}/conflink.yaml").read_text())
    assert doc["ami"]["secret"] == "ab" * 16


def test_deleting_a_room_or_provider_a_link_uses_is_refused(pbx: dict) -> None:
    rig: Rig = pbx["rig"]
    room, used = pbx["rooms"]["a"], pbx["used"]
    for model, uniqid in (("ConferenceRooms", room["uniqid"]), ("Providers", used)):
        # A fresh process, as on a PBX: the module's relations come from Core's module list.
        got = php(rig, f"$m = MikoPBX\\Common\\Models\\{model}::findFirstByUniqid('{uniqid}');"
                       "$ok = $m->delete(); return [$ok, array_map('strval', $m->getMessages())];")
        ok, messages = got
        assert ok is False, (model, messages)
        text = " ".join(messages)
        assert "3301 → 5550100 (kept 5550100)" in text, text  # the link, as the module names it
        assert "Conference link" in text and text.count("Conference link") == 1, text
        still = php(rig, f"return MikoPBX\\Common\\Models\\{model}::findFirstByUniqid('{uniqid}') !== null;")
        assert still is True
