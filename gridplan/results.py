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

__all__ = ["result_folder", "metadata", "default_out", "write_json"]


def default_out(scenario: Scenario, command: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / scenario.name / f"{stamp}-{command}"


@contextlib.contextmanager
def result_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    On any error the temporary folder is removed and nothing is left half-written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GridplanError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    tmp.chmod(0o755)
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
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
