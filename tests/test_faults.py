"""Faults: stops at random points, a killed parent, interrupted writes, a full or read-only disk.

Each stop must be prompt (under 2 s on an idle machine: ``prompt_s`` stretches the bound by the machine's load,
so that a test run beside other work does not fail on the wall clock), print one line, leave no worker
process and no temporary folder behind, leave the output folder either absent or complete, and a rerun into
the same folder must succeed. Stop times come from a fixed seed (``GRIDPLAN_FAULT_SEED`` picks others), so a
failing stop is replayed by running the test again. Processes are followed through
/proc: every command runs in a session of its own, so a worker that outlives its
parent (reparented to init) is still found by its session id.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridplan.cli import main
from tests.conftest import SCENARIOS

TINY = str(SCENARIOS / "tiny")
PROMPT_S = 2.0  # the promise (README, Safety): a stop within 2 seconds


def prompt_s() -> float:
    """The stop bound on this machine now: PROMPT_S, times the load per core when the machine is busier than
    one runnable process per core (other work shares the cores the stopping processes need)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return PROMPT_S * max(1.0, load / (os.cpu_count() or 1))


# Long enough that a stop lands in the middle of the work (the tiny scenario, many long replications).
LONG = {
    "simulate": ["simulate", TINY, "--reps", "40", "--days", "3600", "--processes", "2"],
    "sweep": [
        "sweep",
        TINY,
        "--budget-yuan",
        "2600000:4000000:100000",
        "--reps",
        "4",
        "--days",
        "2000",
        "--processes",
        "2",
    ],
    "run": ["run", TINY, "--reps", "10", "--days", "2000", "--processes", "2"],
}
SHORT = {
    "simulate": ["simulate", TINY, "--reps", "2", "--days", "20", "--processes", "2"],
    "sweep": [
        "sweep",
        TINY,
        "--budget-yuan",
        "2600000:2700000:100000",
        "--reps",
        "2",
        "--days",
        "20",
        "--processes",
        "2",
    ],
    "run": ["run", TINY, "--reps", "2", "--days", "20", "--processes", "1"],
}
# Seed of the stop times; printed on failure so that a failing stop can be replayed.
FAULT_SEED = int(os.environ.get("GRIDPLAN_FAULT_SEED", "20240601"))


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st and int(st[3]) == sid and st[0] != "Z":
                out.append(int(d))
    return out


def wait_gone(sid: int, timeout: float) -> list[int]:
    end = time.monotonic() + timeout
    while (left := session_members(sid)) and time.monotonic() < end:
        time.sleep(0.05)
    return left


def start(argv: list[str], cwd: Path) -> subprocess.Popen:
    """The command in a session of its own; stderr goes to cwd/stderr.txt (a pipe kept open by an
    orphaned worker would make reading it hang instead of failing). --quiet: no progress lines, so the
    stop message is the only line."""
    with open(cwd / "stderr.txt", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "gridplan.cli", "--quiet", *argv],
            cwd=cwd,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def assert_no_debris(out: Path) -> None:
    """No temporary folder beside ``out``; ``out`` absent or a complete result. A sweep's finished points
    (``.NAME.points``, kept on purpose for --resume) may stay, holding only complete point files."""
    points = out.parent / f".{out.name}.points"
    debris = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p != points]
    assert not debris, debris
    if points.exists():
        for f in points.iterdir():
            assert f.name.startswith("point-"), f.name
            if f.suffix == ".json":
                json.loads(f.read_text())  # complete; a write cut short keeps its .tmp- name, never read
    if out.exists():
        listed = json.loads((out / ".gridplan-result").read_text())["files"]
        assert "metadata.json" in listed and sorted(listed) == sorted(
            p.name for p in out.iterdir() if p.name != ".gridplan-result"
        )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to follow the process tree")
@pytest.mark.parametrize("command", ["simulate", "sweep", "run"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_at_a_random_point(command, sig, tmp_path):
    rng = random.Random(f"{FAULT_SEED}-{command}-{sig}")
    delay = rng.uniform(0.3, 2.5)
    to_group = sig == signal.SIGINT and rng.random() < 0.5  # Ctrl-C in a terminal reaches the whole group
    where = f"(GRIDPLAN_FAULT_SEED={FAULT_SEED}: {sig.name} after {delay:.2f} s{' to the group' if to_group else ''})"
    out = tmp_path / "out"
    p = start([*LONG[command], "--out", str(out)], tmp_path)
    time.sleep(delay)
    workers = session_members(p.pid)
    t0 = time.monotonic()
    (os.killpg if to_group else os.kill)(p.pid, sig)
    try:
        rc = p.wait(timeout=15)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    elapsed = time.monotonic() - t0
    err = (tmp_path / "stderr.txt").read_text()
    bound = prompt_s()
    left = wait_gone(p.pid, bound)
    for pid in left:  # a failing run must not leave them computing
        os.kill(pid, signal.SIGKILL)
    assert elapsed < bound, f"took {elapsed:.2f} s to stop (bound {bound:.1f} s at this load) {where}"
    assert "Traceback" not in err, f"{err} {where}"
    if rc != 0:  # 0: it finished before the stop
        assert rc == 128 + sig, f"exit code {rc}, stderr {err!r} {where}"
        assert len(err.strip().splitlines()) == 1 and ("interrupted" in err or "terminated" in err), (err, where)
    assert not left, f"processes {left} outlived the stop (there were {workers}) {where}"
    assert_no_debris(out)
    resume = ["--resume"] if command == "sweep" else []
    assert main(["--quiet", *SHORT[command], "--out", str(out), *resume]) == 0, f"rerun failed {where}"
    assert_no_debris(out)
    assert (out / "metadata.json").is_file()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to follow the process tree")
def test_workers_die_with_a_killed_parent(tmp_path):
    """SIGKILL cannot be caught: the kernel ends the workers (parent-death signal)."""
    p = start([*LONG["simulate"], "--out", str(tmp_path / "out")], tmp_path)
    end = time.monotonic() + 10
    while len(session_members(p.pid)) < 3 and time.monotonic() < end:  # the parent and two workers
        time.sleep(0.05)
    workers = [w for w in session_members(p.pid) if w != p.pid]
    assert len(workers) == 2, "the workers did not start"
    p.kill()
    p.wait(timeout=5)
    left = wait_gone(p.pid, prompt_s())
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "workers outlived their killed parent"


def _interrupt_while_writing(monkeypatch) -> None:
    """Make the result writer write one file, then be interrupted (as by Ctrl-C mid-write)."""
    import gridplan.commands

    def write_then_stop(folder, reps, allocation):
        (folder / "kpis.csv").write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(gridplan.commands, "write_simulation", write_then_stop)


SIM = ["simulate", TINY, "--reps", "1", "--days", "20", "--processes", "1"]


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    _interrupt_while_writing(monkeypatch)
    assert main(["--quiet", *SIM, "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["gridplan: interrupted; nothing half-written was left"]
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_rewrite_keeps_the_earlier_result(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main(["--quiet", *SIM, "--out", str(out)]) == 0
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _interrupt_while_writing(monkeypatch)
    assert main(["--quiet", *SIM, "--out", str(out), "--seed", "3"]) == 130
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ------------------------------------------------------------------ full and read-only disks
@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); yields a function mount(options) -> folder."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def mount(options: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass


def _one_line(capsys, *words: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gridplan: error:") and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_disk_full(tmpfs, capsys):
    disk = tmpfs("size=64k")
    _fill(disk)
    assert main(["--quiet", *SIM, "--out", str(disk / "run")]) == 2
    _one_line(capsys, "--out", "No space left on device", "nothing was written")
    assert [p.name for p in disk.iterdir()] == ["filler"]
    assert main(["check", TINY, "--out", str(disk / "check.csv")]) == 2
    _one_line(capsys, "--out", "No space left on device")
    assert [p.name for p in disk.iterdir()] == ["filler"]


def test_read_only_disk(tmpfs, capsys):
    disk = tmpfs("size=64k,ro")
    assert main(["--quiet", *SIM, "--out", str(disk / "run")]) == 2
    _one_line(capsys, "--out", "cannot write", "read-only")
    assert main(["check", TINY, "--out", str(disk / "check.csv")]) == 2
    _one_line(capsys, "--out", "cannot write")
    assert list(disk.iterdir()) == []


def test_fault_runs_replay_and_the_bound_follows_the_load(monkeypatch):
    """The stop times are the same in every run (a fixed seed, not the clock), and the 2-second promise is
    checked at 2 s on an idle machine, stretched only by the load per core."""
    assert FAULT_SEED == int(os.environ.get("GRIDPLAN_FAULT_SEED", "20240601"))
    assert random.Random(f"{FAULT_SEED}-run-2").uniform(0.3, 2.5) == random.Random(f"{FAULT_SEED}-run-2").uniform(
        0.3, 2.5
    )
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert prompt_s() == PROMPT_S
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0 * (os.cpu_count() or 1), 0.0, 0.0))
    assert prompt_s() == pytest.approx(4 * PROMPT_S)
