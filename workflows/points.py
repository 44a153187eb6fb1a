"""The finished points of a resumable sweep or study, kept in ``.NAME.points/`` beside its result folder.

Each point is one file, ``point-KEY.json`` (KEY: a hash of everything that shaped its numbers), written
by the worker that computed it through ``point-KEY.json.tmp-PID`` and a rename, so no reader sees half a
file. The file holds the row and the sha256 of its JSON: a point file cut short, edited or from an older
gridplan is detected when read, reported (a warning naming the file) and computed again, never reused
and never a traceback. A full disk while a point is kept is one line (``GridplanError``), and the
temporary file is removed. Once the result is complete, only the files named as gridplan names them are
removed; a folder that also holds someone else's files is kept, and said so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

from scenario.errors import GridplanError

__all__ = ["open_points", "point_path", "read_point", "write_point", "remove_points"]

log = logging.getLogger(__name__)

_POINT = re.compile(r"^point-[0-9a-f]{24}\.json$")
_TEMPORARY = re.compile(r"^point-[0-9a-f]{24}\.json\.tmp-[0-9]+$")


def open_points(points_dir: Path) -> None:
    """Create the folder if needed and remove the temporary files of writes a stop cut short.

    Raises:
        GridplanError: the path is not a folder, or the folder cannot be created.
    """
    if points_dir.is_symlink() or (points_dir.exists() and not points_dir.is_dir()):
        raise GridplanError(f"{points_dir}: exists and is not a folder of finished points; move it away")
    try:
        points_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GridplanError(f"{points_dir}: cannot keep finished points there ({exc.strerror or exc})") from None
    for stale in points_dir.iterdir():
        if _TEMPORARY.match(stale.name):  # never read; gridplan's by its name
            stale.unlink(missing_ok=True)


def point_path(points_dir: Path, key: str) -> Path:
    """The file of the point whose key is ``key`` (24 hexadecimal digits)."""
    return points_dir / f"point-{key}.json"


def _digest(row_json: str) -> str:
    return hashlib.sha256(row_json.encode("utf-8")).hexdigest()


def write_point(path: Path, row: dict) -> None:
    """Keep one finished point (in the worker that computed it).

    Raises:
        GridplanError: the disk refused the write (full, read-only); the temporary file is removed.
    """
    row_json = json.dumps(row, sort_keys=True, default=str)
    text = json.dumps({"tool": "gridplan", "sha256": _digest(row_json), "row": json.loads(row_json)})
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        _write(tmp, text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GridplanError(
            f"{path.parent}: could not keep a finished point ({exc.strerror or exc}); free some space and "
            f"rerun with --resume to reuse the points kept so far"
        ) from None


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def read_point(path: Path) -> dict | None:
    """The point kept in ``path``, or None when there is none or it cannot be trusted (then a warning)."""
    if not path.is_file():
        return None
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        row = kept["row"]
        ok = kept["tool"] == "gridplan" and isinstance(row, dict)
        ok = ok and kept["sha256"] == _digest(json.dumps(row, sort_keys=True, default=str))
    except (OSError, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        log.warning("%s: a finished point file cut short or changed; computing the point again", path)
        return None
    return row


def remove_points(points_dir: Path) -> None:
    """Remove the point files gridplan wrote, then the folder if nothing else is left in it."""
    if not points_dir.is_dir() or points_dir.is_symlink():
        return
    others = []
    for f in points_dir.iterdir():
        if (_POINT.match(f.name) or _TEMPORARY.match(f.name)) and f.is_file() and not f.is_symlink():
            f.unlink(missing_ok=True)
        else:
            others.append(f.name)
    if others:
        log.warning(
            "kept %s: it holds %d file(s) gridplan did not write (e.g. %r)", points_dir, len(others), sorted(others)[0]
        )
        return
    try:
        points_dir.rmdir()
    except OSError:
        pass
