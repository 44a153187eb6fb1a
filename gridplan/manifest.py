"""What gridplan wrote in a result folder, and the temporary folders it leaves when it is killed.

Every result folder holds ``.gridplan-result``: the top-level names (``files``) and, for every file and
folder at any depth (``tree``), its size and modification time as written. A folder is gridplan's to
replace only if every entry below it, at any depth, is listed there unchanged: a planner's
``r1/case_log/mine.txt``, or a ``kpis.csv`` edited in a spreadsheet, makes it the planner's.

A temporary folder (``.NAME.tmp-*``, ``.NAME.old-*``) holds ``.gridplan-temporary`` from its first
moment: the process id and host that write it. A run killed outright (SIGKILL, a power cut) leaves it
behind; the next run into the same ``--out`` removes those whose process is gone, and only those.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
from pathlib import Path

__all__ = ["MARKER", "TEMPORARY_MARKER", "record", "not_ours", "mark_temporary", "remove_stale_temporaries"]

MARKER = ".gridplan-result"  # written into every result folder: the files this tool wrote there
TEMPORARY_MARKER = ".gridplan-temporary"  # in a temporary folder while gridplan writes it


def _entries(folder: Path) -> dict[str, list[int] | None]:
    """Every file (its [size, mtime_ns]) and folder (None, its name ending in '/') below ``folder``, by
    path relative to it; symbolic links are listed as files of their own (gridplan writes none)."""
    out: dict[str, list[int] | None] = {}
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):  # os.walk does not enter it; judge it as a file
                dirs.remove(d)
                files.append(d)
            else:
                out[(rel / d).as_posix() + "/"] = None
        for f in files:
            st = os.lstat(os.path.join(root, f))
            out[(rel / f).as_posix()] = [st.st_size, st.st_mtime_ns]
    out.pop(MARKER, None)
    return out


def record(folder: Path) -> dict:
    """The manifest of a complete result folder (written as its ``.gridplan-result``)."""
    files = sorted(e.name for e in folder.iterdir() if e.name != MARKER)
    return {"tool": "gridplan", "files": files, "tree": _entries(folder)}


def not_ours(folder: Path) -> tuple[list[str], list[str]]:
    """(entries gridplan did not write, files changed since it wrote them) below ``folder``, at any depth.

    A folder without a readable manifest is not gridplan's: everything in it counts. A manifest of an
    older gridplan (top-level names only) vouches for its top-level files, not for what its subfolders hold.
    """
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        listed = None
    now = _entries(folder)
    if not isinstance(listed, dict) or listed.get("tool") != "gridplan":
        return sorted(now), []
    tree = listed.get("tree")
    if not isinstance(tree, dict):  # an older manifest
        top = set(map(str, listed.get("files") or []))
        return sorted(k for k, v in now.items() if v is None or "/" in k or k not in top), []
    foreign = sorted(k for k in now if k not in tree)
    changed = sorted(k for k, v in now.items() if k in tree and v is not None and tree[k] != v)
    return foreign, changed


def mark_temporary(folder: Path) -> None:
    """Mark ``folder`` as a temporary folder this process is writing."""
    note = {"tool": "gridplan", "pid": os.getpid(), "host": socket.gethostname()}
    (folder / TEMPORARY_MARKER).write_text(json.dumps(note) + "\n", encoding="utf-8")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Remove the temporary folders beside ``out`` that a killed gridplan left (marked by it, on this
    host, their process gone); return them. Unmarked folders and live runs' folders are left alone."""
    removed = []
    for pattern in (".tmp-*", ".old-*"):
        for d in map(Path, glob.glob(str(out.parent / (glob.escape(f".{out.name}") + pattern)))):
            try:
                note = json.loads((d / TEMPORARY_MARKER).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if d.is_symlink() or not isinstance(note, dict) or note.get("tool") != "gridplan":
                continue
            pid = note.get("pid")
            if note.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed
