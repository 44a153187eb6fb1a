"""Self-describing result folders, written through a temporary folder and renamed into place."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterator

from sim.errors import GridplanError
from sim.scenario import Scenario

__all__ = ["result_folder", "check_out", "metadata", "default_out", "write_json", "check_out_file", "MARKER"]


def default_out(scenario: Scenario, command: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / scenario.name / f"{stamp}-{command}"


MARKER = ".gridplan-result"   # written into every result folder: the files this tool wrote there


def check_out(out: Path, scenario: Scenario | None = None) -> Path:
    """Refuse an output folder gridplan may not (re)place, before any computing starts.

    ``out`` may be new, an empty folder, or an earlier gridplan result folder
    (it holds our marker file and nothing but the files listed in it). Anything
    else, or a folder that holds the scenario being run, is refused: gridplan
    never deletes or overwrites a file it did not create.

    Raises:
        GridplanError: one line naming the folder and what to do instead.
    """
    out = Path(out)
    resolved = out.resolve()
    if scenario is not None:
        for f in scenario.files:
            if resolved == f.resolve().parent or resolved in f.resolve().parents:
                raise GridplanError(f"--out {out}: holds the scenario file {f.name}; choose another folder")
    if out.exists() or out.is_symlink():
        if out.is_symlink() or not out.is_dir():
            raise GridplanError(f"--out {out}: exists and is not a folder; choose a new folder name")
        foreign = sorted({e.name for e in out.iterdir()} - _ours(out))
        if foreign:
            raise GridplanError(f"--out {out}: folder holds {len(foreign)} file(s) gridplan did not write "
                                f"(e.g. {foreign[0]!r}); choose a new or empty folder")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GridplanError(f"--out {out}: cannot write in {parent}; choose a writable folder")
    return out


def check_out_file(out: Path, header: str, scenario: Scenario | None = None) -> Path:
    """Refuse an output file gridplan may not write: a folder, a scenario file, or a file it did not write.

    An existing file is replaced only when its first line is ``header`` (an earlier
    output of the same command).

    Raises:
        GridplanError: one line naming the file and what to do instead.
    """
    out = Path(out)
    if scenario is not None and any(out.resolve() == f.resolve() for f in scenario.files):
        raise GridplanError(f"--out {out}: is a file of the scenario; choose another file name")
    if out.is_dir():
        raise GridplanError(f"--out {out}: is a folder; give a file name such as {out / 'check.csv'}")
    if out.exists() or out.is_symlink():
        try:
            with open(out, encoding="utf-8", errors="replace") as fh:
                first = fh.readline().rstrip("\r\n")
        except OSError:
            first = None
        if out.is_symlink() or first != header:
            raise GridplanError(f"--out {out}: file exists and was not written by this command; "
                                f"choose a new file name")
    parent = out.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GridplanError(f"--out {out}: cannot write in {parent}; choose a writable folder")
    return out


def _ours(folder: Path) -> set[str]:
    """Names in ``folder`` that an earlier gridplan run wrote (empty if it is not a gridplan result)."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(listed, dict) or listed.get("tool") != "gridplan" or not isinstance(listed.get("files"), list):
        return set()
    return {MARKER, *map(str, listed["files"])}


@contextlib.contextmanager
def result_folder(out: Path, scenario: Scenario | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    ``out`` is checked by :func:`check_out` (call it before a long run as well, so
    a bad folder fails fast). On any error the temporary folder is removed and
    nothing is left half-written.

    Raises:
        GridplanError: when ``out`` may not be written (see :func:`check_out`) or the
            disk refuses the write.
    """
    out = check_out(Path(out), scenario)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        tmp.chmod(0o755)
    except OSError as exc:
        raise GridplanError(f"--out {out}: cannot create the result folder ({exc.strerror or exc})") from None
    try:
        try:
            yield tmp
            files = sorted(e.name for e in tmp.iterdir())
            (tmp / MARKER).write_text(json.dumps({"tool": "gridplan", "files": files}) + "\n", encoding="utf-8")
            if out.exists():
                check_out(out, scenario)   # still ours (nothing added meanwhile)
                old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
                os.replace(out, old / "x")
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
        except OSError as exc:
            raise GridplanError(f"--out {out}: could not write the results ({exc.strerror or exc}); "
                                f"nothing was written") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("gridplan", "numpy", "scipy", "pandas", "simpy", "pulp", "pydantic", "highspy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def metadata(scenario: Scenario, command: str, **extra: object) -> dict:
    return {
        "command": command,
        "command_line": sys.argv,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "scenario_path": str(scenario.path),
        "scenario_sha256": scenario.sha256,
        "scenario_files": [str(f) for f in scenario.files],
        "versions": _versions(),
        "git_commit": _git_commit(),
        "assumptions": list(scenario.spec.assumptions),
        **extra,
    }


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
