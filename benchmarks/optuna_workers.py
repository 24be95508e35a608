"""Benchmark: one Optuna study on PostgreSQL searched by 1 and by 2 processes, and the storage's per-trial cost.

Starts a real PostgreSQL server (``tests/support/postgres.py``: initdb in a
temporary folder, 127.0.0.1, a free port), then runs ``recipes/digits_mlp.yaml``
on Optuna (random sampler, ``--trials`` trials, one framework thread per
process) three ways, side by side, ``--repeats`` times each, alternating:

* ``memory``: ``unas run`` with Optuna's default in-memory study (the baseline);
* ``pg x1``: ``unas run --storage postgresql://...`` alone;
* ``pg x2``: the same plus one ``unas worker`` joining it.

Printed per way: trials per minute while every process searches (trials
started from the last process's first trial to the end, from the stored
records: a worker's start-up, seconds of imports, is not search), and the
median per-trial overhead (trial wall time minus time in the training loop). The storage's cost per trial is
``pg x1`` overhead minus ``memory`` overhead. Goal: ``pg x2`` at least 1.8x
the trials per minute of ``pg x1`` on 2 cores.

Usage:
    python benchmarks/optuna_workers.py [--trials 40] [--repeats 2] [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _unas(*args: object, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "unified_nas.cli", *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _figures(store: Path) -> tuple[float, float, int]:
    """(trials per minute, median per-trial overhead in ms, trials) of the store's only run."""
    from unified_nas.report.store import ResultsStore

    with ResultsStore(store) as s:
        (run_id, *_), *_ = s.list_runs()
        trials = [t for t in s.load_run(run_id).trials if t.status == "complete"]
    # The window in which every process was searching in its steady state: from the start of the last
    # process's second trial to the end. A worker starts seconds after the run (importing torch), and
    # each process's first trial pays one-off costs (the first forward pass, connecting): the same rule
    # for one process and for two, so neither is favoured.
    starts: dict[object, list[float]] = {}
    for t in trials:
        starts.setdefault((t.extra.get("worker") or {}).get("pid"), []).append(t.start_time)
    window_start = max(sorted(s)[1] if len(s) > 1 else s[0] for s in starts.values())
    inside = [t for t in trials if t.start_time >= window_start]
    span = max(t.start_time + t.duration_s for t in inside) - window_start
    overhead = statistics.median(t.overhead_s for t in trials) * 1000
    return len(inside) / span * 60, overhead, len(trials)


def _one(way: str, url: str, recipe: Path, trials: int, folder: Path) -> tuple[float, float, int]:
    store = folder / "unas.sqlite"
    base = [
        "run",
        recipe,
        "--backend",
        "optuna",
        "--strategy",
        "random",
        "--trials",
        trials,
        "--store",
        store,
        "--quiet",
    ]
    if way == "memory":
        proc = _unas(*base, cwd=folder)
        _, err = proc.communicate()
        assert proc.returncode == 0, err
        return _figures(store)
    run = _unas(*base, "--storage", url, cwd=folder)
    run_id = None
    assert run.stderr is not None
    for line in run.stderr:
        if "unas worker " in line:
            run_id = line.split("unas worker ")[1].split()[0]
            break
    assert run_id, "the run printed no id"
    workers = [_unas("worker", run_id, "--storage", url, "--quiet", cwd=folder)] if way == "pg x2" else []
    for w in workers:
        _, err = w.communicate()
        assert w.returncode == 0, err
    _, err = run.communicate()
    assert run.returncode == 0, err
    return _figures(store)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (longer trials: less relative overhead)")
    a = p.parse_args()
    # The server is test code (tests/support/postgres.py), not shipped: `python benchmarks/x.py` puts only
    # benchmarks/ on the import path, so the repository root goes there too.
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import PostgresServer

    ways = ("memory", "pg x1", "pg x2")
    got: dict[str, list[tuple[float, float, int]]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as server:
        ENV["PGPASSFILE"] = str(server.pgpass)  # the server's password, as a user's ~/.pgpass holds it
        recipe = Path(tmp) / "digits_mlp.yaml"
        text = (ROOT / "recipes" / "digits_mlp.yaml").read_text()
        recipe.write_text(text.replace("epochs: 10", f"epochs: {a.epochs}"))
        for r in range(a.repeats):
            for way in ways:
                folder = Path(tmp) / f"{way.replace(' ', '')}-{r}"
                folder.mkdir()
                t0 = time.time()
                got[way].append(_one(way, server.url, recipe, a.trials, folder))
                print(f"  {way:7} repeat {r}: {got[way][-1][0]:.1f} trials/min ({time.time() - t0:.0f} s)", flush=True)
    print(
        f"\ndigits_mlp, {a.epochs} epochs, random sampler, {a.trials} trials, 1 thread per process, {os.cpu_count()} cores"
    )
    print(f"{'way':8} {'trials/min':>11} {'overhead ms/trial':>18}")
    med = {w: (statistics.median(x[0] for x in got[w]), statistics.median(x[1] for x in got[w])) for w in ways}
    for w in ways:
        print(f"{w:8} {med[w][0]:11.1f} {med[w][1]:18.1f}")
    print(f"\npg x2 / pg x1 trials per minute: {med['pg x2'][0] / med['pg x1'][0]:.2f}x (goal >= 1.8x)")
    print(f"PostgreSQL storage cost per trial: {med['pg x1'][1] - med['memory'][1]:.1f} ms over in-memory")


if __name__ == "__main__":
    main()
