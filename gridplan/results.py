"""Self-describing result folders, written through a temporary folder and renamed into place."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gridplan.manifest import MARKER, TEMPORARY_MARKER, mark_temporary, not_ours, record, remove_stale_temporaries
from gridplan.spreadsheet import make_csvs_inert
from scenario.errors import GridplanError
from scenario.load import Scenario
from sim.stopping import critical

__all__ = ["result_folder", "check_out", "metadata", "default_out", "write_json", "check_out_file", "MARKER"]

log = logging.getLogger(__name__)


def default_out(scenario: Scenario, command: str) -> Path:
    """results/SCENARIO/TIMESTAMP-COMMAND: where a command writes unless --out says otherwise."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / scenario.name / f"{stamp}-{command}"


def check_out(out: Path, scenario: Scenario | None = None) -> Path:
    """Refuse an output folder gridplan may not (re)place, before any computing starts.

    ``out`` may be new, an empty folder, or an earlier gridplan result folder
    (it holds our marker file and, at any depth, nothing but the files and folders
    listed in it, unchanged: ``gridplan.manifest``). Anything else, or a folder that
    holds the scenario being run, is refused: gridplan never deletes or overwrites a
    file it did not create.

    Raises:
        GridplanError: one line naming the folder and what to do instead.
    """
    out = Path(out)
    check_name_length(out)
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise GridplanError(f"--out {out}: is the current folder or one of its parents; choose a new folder name")
    if scenario is not None:
        for f in scenario.files:
            if resolved == f.resolve().parent or resolved in f.resolve().parents:
                raise GridplanError(f"--out {out}: holds the scenario file {f.name}; choose another folder")
    if out.exists() or out.is_symlink():
        if out.is_symlink() or not out.is_dir():
            raise GridplanError(f"--out {out}: exists and is not a folder; choose a new folder name")
        foreign, changed = not_ours(out)
        if foreign:
            raise GridplanError(
                f"--out {out}: folder holds {len(foreign)} file(s) or folder(s) gridplan did not write "
                f"(e.g. {foreign[0].rstrip('/')!r}); choose a new or empty folder"
            )
        if changed:
            raise GridplanError(
                f"--out {out}: {len(changed)} file(s) changed since gridplan wrote them (e.g. {changed[0]!r}); "
                f"choose a new or empty folder"
            )
    _check_parent(out, resolved)
    return out


NAME_MAX = 255  # bytes in one file name (Linux, macOS, Windows)
PATH_MAX = 4096  # bytes in a whole path (Linux)
TEMPORARY_EXTRA = 14  # a temporary name beside it: '.' + name + '.tmp-' and 8 random characters


def check_name_length(out: Path, extra: int = TEMPORARY_EXTRA) -> None:
    """Refuse a name the file system would refuse (ENAMETOOLONG) once gridplan adds ``extra`` characters
    for the temporary file or folder it writes first.

    Raises:
        GridplanError: one line giving the length found and the limit.
    """
    longest = max((len(os.fsencode(part)) for part in out.parts), default=0)
    if len(os.fsencode(out.name)) + extra > NAME_MAX or longest > NAME_MAX:
        raise GridplanError(
            f"--out: a name of at most {NAME_MAX - extra} bytes is needed (gridplan adds up to {extra} to it "
            f"for its temporary files), found {longest:,} bytes; choose a shorter name"
        )
    if len(os.fsencode(os.path.abspath(out))) + extra >= PATH_MAX:
        raise GridplanError(f"--out: the path is longer than {PATH_MAX - extra:,} bytes; choose a shorter path")


def _check_parent(out: Path, resolved: Path) -> None:
    """The nearest existing ancestor of ``resolved`` must be a folder we can write in."""
    parent = resolved.parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise GridplanError(f"--out {out}: {parent} is not a folder; choose a path inside a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GridplanError(
            f"--out {out}: cannot write in {parent} (read-only or no permission); choose a writable folder"
        )


def check_out_file(out: Path, header: str, scenario: Scenario | None = None, example: str = "check.csv") -> Path:
    """Refuse an output file gridplan may not write: a folder, a scenario file, or a file it did not write.

    An existing file is replaced only when its first line is ``header`` (an earlier
    output of the same command).

    Raises:
        GridplanError: one line naming the file and what to do instead.
    """
    out = Path(out)
    check_name_length(out)
    if scenario is not None and any(out.resolve() == f.resolve() for f in scenario.files):
        raise GridplanError(f"--out {out}: is a file of the scenario; choose another file name")
    if out.is_dir():
        raise GridplanError(f"--out {out}: is a folder; give a file name such as {out / example}")
    if out.exists() or out.is_symlink():
        try:
            with open(out, encoding="utf-8", errors="replace") as fh:
                first = fh.readline().rstrip("\r\n")
        except OSError:
            first = None
        if out.is_symlink() or first != header:
            raise GridplanError(f"--out {out}: file exists and was not written by this command; choose a new file name")
    _check_parent(out, out.resolve())
    return out


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
    out = check_out(Path(os.path.abspath(out)), scenario)
    for stale in remove_stale_temporaries(out):
        log.info("removed %s, left by a gridplan run that was killed", stale)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        tmp.chmod(0o755)
    except OSError as exc:
        raise GridplanError(f"--out {out}: cannot create the result folder ({exc.strerror or exc})") from None
    try:
        try:
            mark_temporary(tmp)
            yield tmp
            (tmp / TEMPORARY_MARKER).unlink()
            make_csvs_inert(tmp)
            manifest = record(tmp)
            log.info("%d files written to %s; moving them to %s in one rename", len(manifest["tree"]), tmp, out)
            (tmp / MARKER).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
            with critical():  # a stop between the two renames would lose the earlier result
                if out.exists():
                    check_out(out, scenario)  # still ours (nothing added meanwhile)
                    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
                    mark_temporary(old)
                    os.replace(out, old / "x")
                    os.replace(tmp, out)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, out)
        except OSError as exc:
            raise GridplanError(
                f"--out {out}: could not write the results ({exc.strerror or exc}); nothing was written"
            ) from None
    finally:
        with critical():
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


def _git(*argv: str) -> str | None:
    """Output of a git command in this package's folder, or None (not a checkout, no git)."""
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(["git", *argv], cwd=here, capture_output=True, text=True, timeout=5)
        return r.stdout if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _plain(value: object) -> object:
    """A command-line value as JSON (paths as text)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def metadata(scenario: Scenario, command: str, args: argparse.Namespace | None = None, **extra: object) -> dict:
    """What a result folder needs to be reproduced: settings, input hashes, versions, commit.

    With ``args``: every command-line setting, the seed and days actually used (the
    scenario's when not given), and the sha256 of every ``--allocation`` file.
    ``extra`` adds or overrides entries.
    """
    settings: dict[str, object] = {}
    used: dict[str, object] = {}
    inputs = {str(f): _sha256(f) for f in scenario.files}
    if args is not None:
        settings = {k: _plain(v) for k, v in vars(args).items() if not callable(v)}
        if hasattr(args, "seed"):
            used["seed"] = scenario.spec.seed if args.seed is None else args.seed
        if hasattr(args, "days"):
            used["days"] = args.days or scenario.spec.calendar.days
            used["warmup_days"] = scenario.spec.calendar.warmup_days
        allocations = getattr(args, "allocation", None) or []
        for a in allocations if isinstance(allocations, list) else [allocations]:
            inputs[str(a)] = _sha256(a)
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "command": command,
        "command_line": sys.argv,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "scenario_path": str(scenario.path),
        "scenario_sha256": scenario.sha256,
        "scenario_files": [str(f) for f in scenario.files],
        "input_files_sha256": inputs,
        "settings": settings,
        **used,
        "versions": _versions(),
        "git_commit": commit.strip() or None if commit else None,
        "git_dirty": bool(status.strip()) if status is not None else None,
        "assumptions": list(scenario.spec.assumptions),
        **extra,
    }


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented UTF-8 JSON."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
