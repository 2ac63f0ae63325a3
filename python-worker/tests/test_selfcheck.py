"""The runtime self-check names what is missing, and its module list follows the code."""

import ast
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conflink import selfcheck

PACKAGE = Path(selfcheck.__file__).resolve().parent
SELFCHECK_FILE = PACKAGE / "selfcheck.py"
WORKER_DIR = PACKAGE.parent


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _covered(name: str, listed: tuple[str, ...] | list[str]) -> bool:
    """A module is covered when it is listed, or when importing its listed top-level loads it too."""
    if name in listed:
        return True
    top = name.split(".")[0]
    if top not in listed:
        return False
    importlib.import_module(top)
    return name in sys.modules


def _code_files() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py"))


def test_stdlib_list_covers_every_stdlib_import_of_the_worker():
    missing = {}
    for path in _code_files():
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "__future__" or top not in sys.stdlib_module_names:
                continue
            if not _covered(name, selfcheck.STDLIB_MODULES):
                missing.setdefault(name, []).append(path.name)
    assert not missing, (
        f"conflink imports standard modules that selfcheck.STDLIB_MODULES does not check: {missing}; "
        "add them there (the package builder ships what that list names)"
    )


def test_third_party_list_covers_every_third_party_import():
    unknown = {}
    for path in _code_files():
        for name in _imports(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "conflink":
                continue
            if not _covered(name, list(selfcheck.THIRD_PARTY)):
                unknown.setdefault(name, []).append(path.name)
    assert not unknown, (
        f"conflink imports third-party modules that the self-check and the package do not know: {unknown}; "
        "add them to selfcheck.THIRD_PARTY and bundle them in tools/build_package.py"
    )


def test_selfcheck_itself_imports_only_sys_and_os():
    tree = ast.parse(SELFCHECK_FILE.read_text(encoding="utf-8"))
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            top_level.add(node.module or ".")
    assert top_level <= {"os", "sys"}, top_level


def test_complete_runtime_passes():
    assert selfcheck.check_runtime() == []
    assert selfcheck.format_report([]) == "conflink self-check: OK"


def _run_isolated(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter with the conflink package importable and a blocker
    in front of the import system that hides chosen modules, like a thin runtime would."""
    prelude = textwrap.dedent(
        """
        import sys, os
        HIDE = set(os.environ.get("HIDE", "").split(",")) - {""}
        BROKEN = set(os.environ.get("BROKEN", "").split(",")) - {""}

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name in HIDE:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                if name in BROKEN:
                    raise ImportError(f"{name}: cannot open shared object file: wrong ELF class", name=name)
                return None

        sys.meta_path.insert(0, Blocker())
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HIDE", "BROKEN")}
    env["PYTHONPATH"] = os.pathsep.join([str(WORKER_DIR), *sys.path[1:]])
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


CHECK = """
from conflink import selfcheck
print(repr(selfcheck.check_runtime()))
print(selfcheck.format_report(selfcheck.diagnose()))
"""


def test_missing_dependency_of_a_stdlib_module_is_named_with_its_user():
    proc = _run_isolated(CHECK, {"HIDE": "heapq"})
    assert proc.returncode == 0, proc.stderr
    first, report = proc.stdout.split("\n", 1)
    assert "'heapq'" in first
    line = next(x for x in report.splitlines() if x.startswith("  - heapq"))
    assert line.startswith("  - heapq (Python standard library, needed by ")
    assert "asyncio" in line
    assert "python-worker/stdlib" in report


def test_missing_third_party_module_is_named_with_where_the_package_ships_it():
    proc = _run_isolated(CHECK, {"HIDE": "panoramisk,yaml"})
    assert proc.returncode == 0, proc.stderr
    first, report = proc.stdout.split("\n", 1)
    assert eval(first) == ["yaml", "panoramisk"]
    assert "panoramisk (panoramisk, bundled in python-worker/vendor/common)" in report
    assert "yaml (PyYAML, bundled in python-worker/vendor/common)" in report
    assert "FAILED" in report


def test_unloadable_binary_module_is_named():
    proc = _run_isolated(CHECK, {"BROKEN": "zmq"})
    assert proc.returncode == 0, proc.stderr
    first, report = proc.stdout.split("\n", 1)
    assert "'zmq'" in first
    assert "wrong ELF class" in report
    assert f"python-worker/vendor/linux-{os.uname().machine}" in report


def test_run_self_check_exit_codes():
    ok = _run_isolated("from conflink import selfcheck; raise SystemExit(selfcheck.run_self_check())")
    assert ok.returncode == 0, ok.stderr
    assert "ok zmq " in ok.stdout and "conflink self-check: OK" in ok.stdout
    bad = _run_isolated("from conflink import selfcheck; raise SystemExit(selfcheck.run_self_check())", {"HIDE": "zmq"})
    assert bad.returncode == 1
    assert "zmq (pyzmq" in bad.stderr


def test_selfcheck_imports_on_a_runtime_with_nothing_but_builtins_and_frozen_modules():
    # Hide every module the interpreter could only find as a file.
    code = """
    import importlib.machinery as m  # frozen; loaded before the blocker is armed
    class FilesOnly:
        def find_spec(self, name, path=None, target=None):
            if name in sys.builtin_module_names or m.FrozenImporter.find_spec(name) is not None:
                return None
            if name.startswith("conflink"):
                return None
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, FilesOnly())
    from conflink import selfcheck
    print(selfcheck.check_runtime()[:3])
    """
    proc = _run_isolated(code)
    assert proc.returncode == 0, proc.stderr
    assert "argparse" in proc.stdout


def test_stdlib_fallback_fills_gaps_but_never_shadows_the_system(tmp_path):
    bundle = tmp_path / "stdlib"
    (bundle / "encodings").mkdir(parents=True)
    (bundle / "json").mkdir()
    (bundle / "zz_conflink_fake.py").write_text("ORIGIN = 'bundle'\n")
    (bundle / "encodings" / "zz_conflink_sub.py").write_text("ORIGIN = 'bundle-sub'\n")
    (bundle / "json" / "__init__.py").write_text("raise RuntimeError('bundled json must not win')\n")
    code = f"""
    from conflink import selfcheck
    selfcheck.install_stdlib_fallback({str(bundle)!r})
    selfcheck.install_stdlib_fallback({str(bundle)!r})  # idempotent
    import zz_conflink_fake, encodings.zz_conflink_sub, json
    print(zz_conflink_fake.ORIGIN, encodings.zz_conflink_sub.ORIGIN, json.__file__)
    print(sum(type(f).__name__ == "_StdlibFallbackFinder" for f in sys.meta_path))
    """
    proc = _run_isolated(code)
    assert proc.returncode == 0, proc.stderr
    line1, line2 = proc.stdout.splitlines()
    origin, sub, json_file = line1.split()
    assert (origin, sub) == ("bundle", "bundle-sub")
    assert not json_file.startswith(str(bundle))
    assert line2 == "1"


def _write_module(tmp_path: Path, body: str) -> Path:
    (tmp_path / "zz_conflink_main.py").write_text(textwrap.dedent(body))
    return tmp_path


def test_launch_runs_the_module_as_main_with_its_arguments(tmp_path):
    _write_module(
        tmp_path,
        """
        import sys
        if __name__ == "__main__":
            print("main", sys.argv[1:])
            raise SystemExit(7)
        """,
    )
    proc = _run_isolated(
        f"sys.path.insert(0, {str(tmp_path)!r}); from conflink.selfcheck import launch; "
        "launch(['zz_conflink_main', '--config', 'x.yaml'])"
    )
    assert proc.returncode == 7, proc.stderr
    assert "main ['--config', 'x.yaml']" in proc.stdout


def test_launch_self_check_flag(tmp_path):
    proc = _run_isolated("from conflink.selfcheck import launch; launch(['conflink.worker', '--self-check'])")
    assert proc.returncode == 0, proc.stderr
    assert "conflink self-check: OK" in proc.stdout
    proc = _run_isolated(
        "from conflink.selfcheck import launch; launch(['conflink.worker', '--self-check'])", {"HIDE": "yaml"}
    )
    assert proc.returncode == 1
    assert "yaml (PyYAML" in proc.stderr


def test_launch_turns_an_import_failure_from_a_gap_into_the_report(tmp_path):
    _write_module(tmp_path, "import zmq\n")
    proc = _run_isolated(
        f"sys.path.insert(0, {str(tmp_path)!r}); from conflink.selfcheck import launch; launch(['zz_conflink_main'])",
        {"HIDE": "zmq"},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"zmq (pyzmq, bundled in python-worker/vendor/linux-{os.uname().machine}" in proc.stderr


def test_launch_keeps_the_traceback_of_a_real_bug(tmp_path):
    _write_module(tmp_path, "import zz_conflink_no_such_module\n")
    proc = _run_isolated(
        f"sys.path.insert(0, {str(tmp_path)!r}); from conflink.selfcheck import launch; launch(['zz_conflink_main'])"
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "zz_conflink_no_such_module" in proc.stderr


@pytest.mark.parametrize("args", [[]])
def test_launch_without_a_module_is_a_usage_error(args):
    with pytest.raises(SystemExit) as exc:
        selfcheck.launch(args)
    assert exc.value.code == 2
