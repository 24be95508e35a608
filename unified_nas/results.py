"""What the Python API hands back: a results store opened read-only, and benchmarks in it.

:class:`Results` is what :func:`unified_nas.api.load` returns; :class:`Benchmark` is what
:func:`unified_nas.api.bench` returns (and :meth:`Results.bench` reads back). Both only read the
store; the numbers of a benchmark's report are computed on first use (they import scipy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import StoreError
from unified_nas.report.records import require_pandas
from unified_nas.report.store import ResultsStore
from unified_nas.runs.lifecycle import shown_status

if TYPE_CHECKING:
    import pandas as pd

    from unified_nas.report.records import RunReport

REPORT_FORMATS = ("html", "md", "json")


@dataclass
class Benchmark:
    """A benchmark, or a suite of benchmarks (one per recipe), stored in a results store.

    Attributes:
        store: The results store file.
        bench_ids: The benchmark ids, in recipe order (one unless a suite).
        reports: Each benchmark's report files (report.html, .md, .json).
        suite_id: The suite's id (None for a single benchmark).
        suite_reports: The suite report's files.
    """

    store: Path
    bench_ids: list[str]
    reports: dict[str, list[str]] = field(default_factory=dict)
    suite_id: str | None = None
    suite_reports: list[str] = field(default_factory=list)
    _data: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        """The suite id of a suite, else the benchmark id (what ``unas report`` takes)."""
        return self.suite_id or self.bench_ids[0]

    @property
    def data(self) -> dict[str, Any]:
        """The report's numbers, JSON-ready (read from the store on first use).

        For one benchmark: :func:`unified_nas.benchmark.summary.bench_data`. For a
        suite: ``{"suite_id", "suite": <the suite report's data>, "benchmarks":
        {bench_id: bench_data}}``.

        Raises:
            StoreError: The store cannot be read, or does not hold the benchmarks.
        """
        if self._data is None:
            with ResultsStore(self.store, readonly=True, create=False) as store:
                self._data = self._collect(store)
        return self._data

    def _collect(self, store: ResultsStore) -> dict[str, Any]:
        from unified_nas.benchmark.summary import bench_data  # deferred: imports scipy

        benches = {b: bench_data(store, b) for b in self.bench_ids}
        if self.suite_id is None:
            return benches[self.bench_ids[0]]
        from unified_nas.benchmark.suite import suite_data  # deferred: imports scipy

        created = store.suite(self.suite_id)["created_at"]
        suite = suite_data(store, self.bench_ids, created_at=created, benches=benches)
        return {"suite_id": self.suite_id, "suite": suite, "benchmarks": benches}

    def to_pandas(self) -> pd.DataFrame:
        """One row per run (the last attempt of each recipe, backend and seed).

        Columns: ``bench_id``, ``recipe``, ``backend``, ``seed``, ``run_id``,
        ``status``, ``strategy``, ``metric`` (the first objective), ``score``
        (the incumbent's value of it, chosen on validation), the incumbent's
        ``val_accuracy``, ``test_accuracy`` (trained recipes), ``true_accuracy``
        (table recipes: the table's mean accuracy over its recorded seeds),
        ``retrain_test_accuracy`` (``retrain``), ``params`` and ``flops``; the
        run's ``trials``, ``complete``, ``pruned``, ``failed``, ``wall_s``,
        ``simulated_s`` (table recipes), ``time_to_target_s``, ``error``.

        Returns:
            A ``pandas.DataFrame``.

        Raises:
            UserError: pandas is not installed (``pip install 'unified-nas[pandas]'``).
        """

        pd = require_pandas()
        benches = self.data["benchmarks"] if self.suite_id else {self.bench_ids[0]: self.data}
        rows = [_run_row(d, r) for d in benches.values() for r in d["runs"]]
        return pd.DataFrame(rows, columns=list(_run_row({}, {})))

    def incomplete(self) -> list[str]:
        """The runs that did not complete, read from the store.

        Returns:
            One ``recipe backend seed N: status`` per run.

        Raises:
            StoreError: The store cannot be read.
        """
        with ResultsStore(self.store, readonly=True, create=False) as store:
            recipes = {bid: recipe for bid, recipe, _ in store.list_benches()}
            return [
                f"{recipes.get(b, b)} {backend} seed {seed}: {r['status']}"
                for b in self.bench_ids
                for (backend, seed), r in store.latest_bench_runs(b).items()
                if r["status"] != "complete"
            ]


def _run_row(d: Mapping[str, Any], r: Mapping[str, Any]) -> dict[str, Any]:
    """One run of a benchmark's data as a flat row (:meth:`Benchmark.to_pandas`)."""
    inc = r.get("incumbent") or {}
    spent = r.get("budget_spent") or {}
    retrain = r.get("retrain") or {}
    return {
        "bench_id": d.get("bench_id"),
        "recipe": (d.get("recipe") or {}).get("name"),
        "backend": r.get("backend"),
        "seed": r.get("seed"),
        "run_id": r.get("run_id"),
        "status": r.get("status"),
        "strategy": r.get("strategy"),
        "metric": d.get("metric"),
        "score": (inc.get("objectives") or [None])[0],
        "val_accuracy": inc.get("val_accuracy"),
        "test_accuracy": inc.get("test_accuracy"),
        "true_accuracy": inc.get("true_accuracy"),
        "retrain_test_accuracy": retrain.get("mean"),
        "params": inc.get("params"),
        "flops": inc.get("flops"),
        "trials": spent.get("trials"),
        "complete": spent.get("complete"),
        "pruned": spent.get("pruned"),
        "failed": spent.get("failed"),
        "infeasible": spent.get("infeasible", 0),
        "wall_s": spent.get("wall_s"),
        "simulated_s": spent.get("simulated_s"),
        "time_to_target_s": r.get("time_to_target_s"),
        "error": r.get("error"),
    }


class Results:
    """A results store opened read-only: runs, benchmarks and suites as Python objects.

    Nothing here writes to the store; use it as a context manager (or call
    :meth:`close`) to release the file.

    Args:
        store: The store, opened read-only (:func:`unified_nas.api.load` opens it).
    """

    def __init__(self, store: ResultsStore) -> None:
        self._store = store
        self.path = store.path

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    def close(self) -> None:
        """Releases the store file."""
        self._store.close()

    def runs(self) -> list[dict[str, Any]]:
        """Every stored run, newest first.

        Returns:
            Per run: ``run_id``, ``recipe``, ``backend``, ``status`` (``died`` for a run marked
            running whose process is gone, as ``unas runs`` shows) and ``started_at``.
        """

        return [
            {
                "run_id": rid,
                "recipe": recipe,
                "backend": backend,
                "status": shown_status(status, owner),
                "started_at": t,
            }
            for rid, recipe, backend, status, t, owner in self._store.list_runs()
        ]

    def benchmarks(self) -> list[dict[str, Any]]:
        """Every stored benchmark, newest first.

        Returns:
            Per benchmark: ``bench_id``, ``recipe``, ``created_at``, ``backends``, ``seeds``.
        """
        out = []
        for bid, recipe, created in self._store.list_benches():
            config = self._store.bench(bid)[1]
            out.append(
                {
                    "bench_id": bid,
                    "recipe": recipe,
                    "created_at": created,
                    "backends": config.get("backends"),
                    "seeds": config.get("seeds"),
                }
            )
        return out

    def suites(self) -> list[dict[str, Any]]:
        """Every stored suite, newest first.

        Returns:
            Per suite: ``suite_id``, ``name``, ``created_at``, ``bench_ids``.
        """
        out = []
        for sid, name, created in self._store.list_suites():
            out.append(
                {"suite_id": sid, "name": name, "created_at": created, "bench_ids": self._store.suite(sid)["bench_ids"]}
            )
        return out

    def run(self, run_id: str = "latest") -> RunReport:
        """A stored run's full report.

        Args:
            run_id: A run id, a unique prefix, or ``latest``.

        Returns:
            Its :class:`~unified_nas.report.records.RunReport`.

        Raises:
            StoreError: Nothing or more than one run matches.
        """

        report = self._store.load_run(run_id)
        report.status = shown_status(report.status, report.process)
        return report

    def bench(self, bench_id: str = "latest") -> Benchmark:
        """A stored benchmark, or suite (ids starting ``suite-``).

        Args:
            bench_id: A benchmark or suite id, a unique prefix, or ``latest`` (benchmark).

        Returns:
            The :class:`Benchmark`, with the report files still where ``bench`` wrote them.

        Raises:
            StoreError: Nothing or more than one matches.
        """
        if bench_id.startswith("suite-"):
            return self.suite(bench_id)
        bid = self._store.bench(bench_id)[0]
        return Benchmark(self.path, [bid], {bid: self._report_files(bid)})

    def suite(self, suite_id: str = "latest") -> Benchmark:
        """A stored suite (its benchmarks and report files).

        Args:
            suite_id: A suite id, a unique prefix, or ``latest``.

        Returns:
            The suite as a :class:`Benchmark`.

        Raises:
            StoreError: Nothing or more than one matches, or the store holds no suites.
        """
        s = self._store.suite(suite_id)
        out = Path(s["config"].get("out_dir", ""))
        return Benchmark(
            self.path,
            list(s["bench_ids"]),
            {b: self._report_files(b) for b in s["bench_ids"]},
            s["suite_id"],
            _existing(out),
        )

    def _report_files(self, bench_id: str) -> list[str]:
        """The benchmark's report files where ``bench`` wrote them (beside its runs' directories), if still there."""
        for r in self._store.bench_runs(bench_id):
            try:
                run_dir = Path(self._store.load_run(r["run_id"]).run_dir)
            except StoreError:
                continue
            return _existing(run_dir.parent / bench_id)
        return []


def _existing(folder: Path) -> list[str]:
    """The report files (html, md, json) in ``folder`` that exist."""
    return [str(p) for p in (folder / f"report.{x}" for x in REPORT_FORMATS) if p.is_file()]
