"""Dask as the engine: the same seed gives the same numbers on 1 process, 2 processes and a LocalCluster."""

from __future__ import annotations

import pandas as pd
import pytest

from gridplan.cli import main
from sim.dask_engine import active_client, dask_engine
from sim.replications import run_replications
from tests.conftest import SCENARIOS

pytest.importorskip("distributed")


def test_replications_on_a_local_cluster_equal_serial(tiny, caplog):
    import logging

    serial = run_replications(tiny, tiny.baseline, reps=3, days=60, processes=1)
    two = run_replications(tiny, tiny.baseline, reps=3, days=60, processes=2)
    with dask_engine(workers=2) as client, caplog.at_level(logging.INFO, logger="sim.replications"):
        assert active_client() is client
        on_dask = run_replications(tiny, tiny.baseline, reps=3, days=60)
    assert active_client() is None
    assert any(r.getMessage().endswith("on the Dask cluster") for r in caplog.records)  # not "on N core(s)"
    pd.testing.assert_frame_equal(serial.per_rep, on_dask.per_rep)
    pd.testing.assert_frame_equal(two.per_rep, on_dask.per_rep)
    pd.testing.assert_frame_equal(serial.group("community"), on_dask.group("community"))


def test_command_line_runs_on_dask_and_names_a_bad_scheduler(tmp_path, capsys):
    out = tmp_path / "sim"
    assert (
        main(
            [
                "--quiet",
                "simulate",
                str(SCENARIOS / "tiny"),
                "--reps",
                "2",
                "--days",
                "30",
                "--dask-workers",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    local = tmp_path / "local"
    assert (
        main(
            [
                "--quiet",
                "simulate",
                str(SCENARIOS / "tiny"),
                "--reps",
                "2",
                "--days",
                "30",
                "--processes",
                "1",
                "--out",
                str(local),
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(pd.read_csv(out / "kpis.csv"), pd.read_csv(local / "kpis.csv"))
    capsys.readouterr()
    assert (
        main(
            [
                "simulate",
                str(SCENARIOS / "tiny"),
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--reps",
                "2",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and err.count("\n") == 1


def test_a_killed_sweep_resumes_with_nothing_lost_or_recomputed(tmp_path):
    """SIGKILL a sweep after its first finished point; --resume reuses every finished point, recomputes none,
    and the frontier equals an uninterrupted run's."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sweep"
    points = tmp_path / ".sweep.points"
    argv = [
        "--quiet",
        "sweep",
        str(SCENARIOS / "tiny"),
        "--budget-yuan",
        "2700000:3300000:150000",
        "--reps",
        "2",
        "--days",
        "60",
        "--processes",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridplan.cli", *argv],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(points.glob("point-*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in points.glob("point-*.json")}
    assert 1 <= len(finished) < 5 and not out.exists()
    assert not [p for p in points.iterdir() if not p.name.endswith(".json") and ".tmp-" not in p.name]
    assert main(argv[1:]) == 2  # a rerun without --resume says what to do
    assert main([*argv, "--resume"]) == 0
    frontier = pd.read_csv(out / "frontier.csv")
    assert frontier.resumed.sum() == len(finished) and len(frontier) == 5
    assert not points.exists()  # cleaned once the result is complete
    fresh = tmp_path / "fresh"
    assert main([*argv[:-1], str(fresh)]) == 0
    cols = [c for c in frontier.columns if c != "resumed"]
    pd.testing.assert_frame_equal(frontier[cols], pd.read_csv(fresh / "frontier.csv")[cols])
