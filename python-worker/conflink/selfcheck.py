"""Start-up self-check of the Python runtime, and the launchers' bootstrap.

MikoPBX ships a minimal Python 3.11 without pip and with a thin standard library.
The module package therefore carries the worker's third-party dependencies
(python-worker/vendor/) and the pure-Python standard modules it imports
(python-worker/stdlib/). This module tells clearly what is still missing, before
the worker fails half-way with a bare ImportError.

Importing this module needs only ``sys`` and ``os`` (both loaded by the interpreter
itself at start): it must work on a runtime that lacks everything else. Even the
``importlib`` package and ``__future__`` are plain files that a thin standard library
may lack, so this module uses the built-in ``__import__`` and the import system's
frozen core instead.
"""

import os
import sys

# Standard-library modules the worker and the control client import, plus those
# imported lazily at run time that a static scan does not see: asyncio resolves
# host names through the "idna" codec and runs getaddrinfo() in a thread pool.
# python-worker/tests/test_selfcheck.py keeps this list in step with the imports
# in conflink/*.py; the package builder ships the pure-Python part of it.
STDLIB_MODULES: tuple[str, ...] = (
    "abc",
    "argparse",
    "asyncio",
    "base64",
    "collections",
    "collections.abc",
    "concurrent.futures",
    "concurrent.futures.thread",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "encodings.idna",
    "enum",
    "errno",
    "fcntl",
    "functools",
    "hashlib",
    "hmac",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "logging.handlers",
    "math",
    "os",
    "pathlib",
    "random",
    "re",
    "runpy",
    "secrets",
    "select",
    "signal",
    "socket",
    "stat",
    "string",
    "sys",
    "tempfile",
    "textwrap",
    "time",
    "traceback",
    "types",
    "typing",
    "uuid",
    "warnings",
    "weakref",
)

# Third-party modules: import name -> (distribution, where the package ships it).
THIRD_PARTY: dict[str, tuple[str, str]] = {
    "yaml": ("PyYAML", "python-worker/vendor/common"),
    "panoramisk": ("panoramisk", "python-worker/vendor/common"),
    "zmq": ("pyzmq", "python-worker/vendor/linux-<arch>"),
    "zmq.asyncio": ("pyzmq", "python-worker/vendor/linux-<arch>"),
}

# The bundled pyzmq is a CPython 3.11 binary (cp311 wheels).
BUNDLED_PYTHON = (3, 11)


class Problem:
    """One module that cannot be imported, and why."""

    __slots__ = ("detail", "kind", "missing", "wanted")

    def __init__(self, wanted: str, missing: str, kind: str, detail: str) -> None:
        self.wanted = wanted  # the module we asked for
        self.missing = missing  # the module that is actually absent (may be a dependency of wanted)
        self.kind = kind  # "stdlib" or "third-party"
        self.detail = detail  # the interpreter's own message

    def __repr__(self) -> str:
        return f"Problem({self.wanted!r}, missing={self.missing!r}, kind={self.kind!r})"


def _try_import(name: str, kind: str) -> Problem | None:
    try:
        __import__(name)
    except ImportError as exc:
        # ModuleNotFoundError names the module that is really absent, which is
        # often a dependency (asyncio -> heapq) rather than the one we asked for.
        missing = getattr(exc, "name", None) or name
        if not isinstance(exc, ModuleNotFoundError):
            missing = name  # present but not loadable (wrong arch, broken .so)
        return Problem(name, missing, kind, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a module that raises while importing is unusable too
        return Problem(name, name, kind, f"{type(exc).__name__}: {exc}")
    return None


def diagnose() -> list[Problem]:
    """Import every module the worker needs and return what failed."""
    problems: list[Problem] = []
    for name in STDLIB_MODULES:
        problem = _try_import(name, "stdlib")
        if problem is not None:
            problems.append(problem)
    for name in THIRD_PARTY:
        problem = _try_import(name, "third-party")
        if problem is not None:
            problems.append(problem)
    return problems


def check_runtime() -> list[str]:
    """Return the names of the missing modules, empty when the runtime is complete."""
    names: list[str] = []
    for problem in diagnose():
        if problem.missing not in names:
            names.append(problem.missing)
    return names


def _arch() -> str:
    # The launcher says which vendor folder it put on the path.
    machine = os.environ.get("CONFLINK_ARCH") or os.uname().machine
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def format_report(problems: list[Problem]) -> str:
    """A message for the administrator naming every missing module and the fix."""
    if not problems:
        return "conflink self-check: OK"
    lines = [
        f"conflink self-check: FAILED: the Python runtime ({sys.executable}, Python {_python_version()}) "
        "cannot import modules the ConferenceLink worker needs:"
    ]
    # One line per missing module, naming every checked module that needs it.
    by_missing: dict[str, list[Problem]] = {}
    for problem in problems:
        by_missing.setdefault(problem.missing, []).append(problem)
    for missing, group in by_missing.items():
        first = group[0]
        users = [p.wanted for p in group if p.wanted != missing and not p.wanted.startswith(missing + ".")]
        via = f", needed by {', '.join(users)}" if users else ""
        if first.kind == "stdlib":
            lines.append(f"  - {missing} (Python standard library{via}): {first.detail}")
        else:
            dist, where = THIRD_PARTY.get(first.wanted, (first.wanted, "python-worker/vendor"))
            where = where.replace("<arch>", _arch())
            lines.append(f"  - {missing} ({dist}, bundled in {where}{via}): {first.detail}")
    lines.append("How to fix:")
    if any(p.kind == "stdlib" for p in problems):
        lines.append(
            "  * Standard-library modules: the module package ships them in python-worker/stdlib/; "
            "reinstall the module zip if that folder is incomplete, or install the full CPython "
            f"{BUNDLED_PYTHON[0]}.{BUNDLED_PYTHON[1]} standard library next to the system Python."
        )
    if any(p.kind == "third-party" for p in problems):
        lines.append(
            "  * Third-party packages: reinstall the module zip (it bundles PyYAML, panoramisk and pyzmq "
            "for x86_64 and aarch64); in a development checkout run `make deps` or "
            "`pip install -e ./python-worker`."
        )
        if sys.version_info[:2] != BUNDLED_PYTHON:
            lines.append(
                f"  * The bundled pyzmq is built for CPython {BUNDLED_PYTHON[0]}.{BUNDLED_PYTHON[1]}; "
                f"this interpreter is {_python_version()}. Set CONFLINK_PYTHON to a Python "
                f"{BUNDLED_PYTHON[0]}.{BUNDLED_PYTHON[1]} interpreter."
            )
    return "\n".join(lines)


def _origin(name: str) -> str:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    return str(origin) if origin else "?"


def run_self_check(verbose: bool = True) -> int:
    """Print the report (with each module's origin when verbose); return the exit code 0 or 1."""
    problems = diagnose()
    if problems:
        print(format_report(problems), file=sys.stderr)
        return 1
    if verbose:
        print(f"Python {_python_version()} at {sys.executable}")
        for name in (*STDLIB_MODULES, *THIRD_PARTY):
            print(f"ok {name} {_origin(name)}")
    print(format_report(problems))
    return 0


class _StdlibFallbackFinder:
    """Finds standard modules in the bundled stdlib folder, after every other finder.

    Appended to the end of sys.meta_path, so a module of the system's own standard
    library always wins; only what the system lacks comes from the bundle. Unlike a
    plain sys.path entry this also fills in a submodule missing from a package the
    system does have (e.g. encodings.idna).
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        # The import system's own frozen core: present even when importlib/ is not.
        path_finder = sys.modules["_frozen_importlib_external"].PathFinder
        parts = fullname.split(".")
        directory = os.path.join(self.root, *parts[:-1])
        if not os.path.isdir(directory):
            return None
        return path_finder.find_spec(fullname, [directory])

    def invalidate_caches(self) -> None:
        pass


def install_stdlib_fallback(root: str) -> None:
    """Let the interpreter import bundled standard modules that the system lacks."""
    if not os.path.isdir(root):
        return
    if not any(isinstance(f, _StdlibFallbackFinder) for f in sys.meta_path):
        # Typed loosely on purpose: this module may not import typing or importlib.
        sys.meta_path.append(_StdlibFallbackFinder(root))  # type: ignore[arg-type]


def launch(argv: list[str] | None = None) -> None:
    """Entry point of bin/conflink-worker and bin/conflink-ctl.

    argv is ``[<module>, <args>...]``. ``--self-check`` as the first argument runs
    the check and exits 0/1. Otherwise the module runs as ``__main__`` (like
    ``python -m``); if it dies of an ImportError caused by a missing module, the
    report replaces the traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: launch <module> [args...]", file=sys.stderr)
        raise SystemExit(2)
    stdlib = os.environ.get("CONFLINK_STDLIB", "")
    if stdlib:
        install_stdlib_fallback(stdlib)
    module, rest = args[0], args[1:]
    if rest[:1] == ["--self-check"]:
        raise SystemExit(run_self_check(verbose="--quiet" not in rest))

    try:
        import runpy  # needs importlib and types, which may come from the bundle
    except ImportError:
        print(format_report(diagnose()), file=sys.stderr)
        raise SystemExit(1) from None
    sys.argv = [module, *rest]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except ImportError:
        problems = diagnose()
        if not problems:
            raise  # not a runtime gap: a real bug, keep the traceback
        print(format_report(problems), file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    raise SystemExit(run_self_check(verbose="--quiet" not in sys.argv[1:]))
