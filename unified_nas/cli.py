"""``unas``: run, report, validate, backends.

Exit status: 0 success, 2 bad input (recipe, flag, backend, run id), 1 runtime failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from unified_nas.benchmark.inputs import TABLE_SEEDS, TRAINED_SEEDS
from unified_nas.core.errors import StoreError, UserError, one_line
from unified_nas.core.limits import MAX_SEED
from unified_nas.report.render import status_counts
from unified_nas.report.store import DEFAULT_STORE, ResultsStore  # sqlite3 + json only: no toolkit
from unified_nas.runs.lifecycle import ResumeDiverged, Terminated, handle_sigterm, shown_status
from unified_nas.runs.options import parse_assignments
from unified_nas.runs.threads import MAX_THREADS, parse_threads

if TYPE_CHECKING:
    from unified_nas.report.records import RunReport, TrialRecord

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_USAGE, f"unas: error: {message}\n")


def _int_at_least(low: int, high: int | None = None):
    """An argparse type: an integer >= ``low`` (and <= ``high`` if given)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{v} is not >= {low}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"{v} is not <= {high}")
        return v

    return parse


def _threads(text: str) -> int | str:
    try:
        return parse_threads(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("threads: ")) from None


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return v


THREADS_HELP = (
    "framework threads (torch, TensorFlow, OpenMP): N, or 'auto' for available cores / concurrent runs "
    "(default 1: the recipes' networks train fastest on one thread; use --jobs for more cores)"
)
DEFAULT_FIRST_HELP = (
    "trial 0 evaluates the recipe's start point (each parameter's default:, else its neutral middle), "
    "so runs start at the same place"
)

DEVICE_HELP = (
    "where torch trains: auto (CUDA if present), cpu, cuda or cuda:N (default: the recipe's device:, else cpu); "
    "CUDA where there is none is refused before any work"
)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="unas", description="One NAS recipe, many toolkits (NNI, Optuna, AutoKeras).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a recipe on one backend, or resume a stopped run")
    r.add_argument("recipe", nargs="?", help="recipe YAML file")
    r.add_argument("--backend", help="backend name (see `unas backends`)")
    r.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue a killed, interrupted or failed run (id, unique "
        "prefix or 'latest') until its budget is spent; finished trials are kept, not redone",
    )
    r.add_argument("--strategy", help="unified strategy name (default: the recipe's, else the backend's)")
    r.add_argument("--trials", type=_int_at_least(1), help="trial budget (overrides the recipe)")
    r.add_argument("--time", type=_positive_float, dest="time_s", metavar="SECONDS", help="wall-clock budget")
    r.add_argument("--seed", type=_int_at_least(0, MAX_SEED), help="run seed (overrides the recipe)")
    r.add_argument("--pruner", help="early stopping of bad trials (the backend's pruners: see `unas backends`)")
    r.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a backend option (repeatable), e.g. --option engine=web; each backend's options: `unas backends`",
    )
    r.add_argument("--store", default=DEFAULT_STORE, help=f"results store (default ./{DEFAULT_STORE})")
    r.add_argument("--runs-dir", default=None, help="where run directories go (default: unas-runs/ beside the store)")
    r.add_argument("--threads", type=_threads, help=THREADS_HELP)
    r.add_argument("--default-first", action="store_true", help=DEFAULT_FIRST_HELP)
    r.add_argument("--device", help=DEVICE_HELP)
    r.add_argument(
        "--storage",
        metavar="URL",
        help="share the search through this storage (a database URL or journal file; backends that can: Optuna); "
        "other processes join with `unas worker RUN_ID --storage URL`",
    )
    r.add_argument("--quiet", action="store_true", help="no progress output")

    w = sub.add_parser("worker", help="join a run's shared search (started with `unas run ... --storage URL`)")
    w.add_argument("run_id", metavar="RUN_ID")
    w.add_argument("--storage", required=True, metavar="URL", help="the storage the run was started with")
    w.add_argument(
        "--trials", type=_int_at_least(1), help="at most N trials here (default: until the run's budget is done)"
    )
    w.add_argument("--backend", help="the run's backend (default: the one installed backend that shares searches)")
    w.add_argument("--threads", type=_threads, help=THREADS_HELP)
    w.add_argument("--device", help=DEVICE_HELP)
    w.add_argument("--quiet", action="store_true", help="no progress output")

    be = sub.add_parser(
        "bench",
        help="benchmark recipes across backends and seeds, and write the comparison report(s)",
        description="Benchmark a recipe across backends and seeds. Several recipes, or one suite file "
        "(YAML: recipes: [paths relative to it], optional name:), run one benchmark per recipe with the "
        "same flags and add a suite report comparing them.",
    )
    be.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML file(s), or one suite file")
    be.add_argument(
        "--backends",
        help="comma-separated (default: every installed backend that is a NAS toolkit, see `unas backends`)",
    )
    be.add_argument(
        "--seeds",
        type=_int_at_least(1),
        default=None,
        help=f"seeds per backend, from the recipe's seed up (default: {TABLE_SEEDS} for a recipe evaluated "
        f"by a table, else {TRAINED_SEEDS}; per recipe in a suite)",
    )
    be.add_argument("--trials", type=_int_at_least(1), help="trial budget per run (overrides the recipe)")
    be.add_argument("--time", type=_positive_float, dest="time_s", metavar="SECONDS", help="wall-clock budget per run")
    be.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="BACKEND=NAME",
        help="strategy for one backend (repeatable), e.g. --strategy nni=random",
    )
    be.add_argument(
        "--jobs",
        type=_int_at_least(1, MAX_THREADS),
        default=1,
        help="runs at once, each in its own process (default 1)",
    )
    be.add_argument("--threads", type=_threads, help=THREADS_HELP + "; per run")
    be.add_argument("--device", help=DEVICE_HELP)
    be.add_argument("--default-first", action="store_true", help=DEFAULT_FIRST_HELP + " (every backend)")
    be.add_argument(
        "--retrain",
        type=_int_at_least(0),
        default=0,
        metavar="R",
        help="retrain each incumbent R times from scratch (torch protocol) for its test accuracy",
    )
    be.add_argument("--resume", action="store_true", help="continue the latest benchmark with the same settings")
    be.add_argument("--store", default=DEFAULT_STORE)
    be.add_argument("--runs-dir", default=None, help="where run directories and reports go (default: unas-runs/)")
    be.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where runs execute: local processes (default), or dask: each run a Dask task, one per worker "
        "process at a time (pip install 'unified-nas[dask]')",
    )
    be.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --executor dask: a running Dask scheduler, whose workers were started with "
        "--nthreads 1 --resources unas_run=1 and see the recipe and --runs-dir at the same paths "
        "(default: a local cluster on 127.0.0.1 with --jobs workers)",
    )

    rep = sub.add_parser("report", help="show a stored run, or write a benchmark's or a suite's report")
    rep.add_argument(
        "run_id", nargs="?", default="latest", help="run, benchmark or suite id, a unique prefix, or 'latest'"
    )
    rep.add_argument(
        "--format",
        choices=("table", "json", "csv", "html", "md"),
        default=None,
        help="runs: table (default), json, csv; benchmarks and suites: html (default), md, json",
    )
    rep.add_argument("--store", default=DEFAULT_STORE)
    rep.add_argument("--output", "-o", help="write to this file instead of stdout")

    ex = sub.add_parser("export", help="write a trial's architecture as a trained model file + its canonical sample")
    ex.add_argument("run_id", help="run id, a unique prefix, or 'latest'")
    ex.add_argument("--trial", default="best", help="'best' (the incumbent, chosen on validation) or a trial index")
    ex.add_argument("--format", required=True, choices=("torch", "keras", "onnx"))
    ex.add_argument("--output", "-o", help="output folder (default: <run_dir>/export-<trial>-<format>)")
    ex.add_argument("--store", default=DEFAULT_STORE)

    v = sub.add_parser("validate", help="check a recipe without running it")
    v.add_argument("recipe")
    v.add_argument(
        "--backend",
        action="append",
        default=[],
        help="also check it as a run on this backend would, toolkit included (strategy arguments); repeatable",
    )

    m = sub.add_parser("metrics", help="list the metrics recipes may use as objectives and constraints")
    m.add_argument("--format", choices=("table", "json"), default="table")
    b = sub.add_parser("backends", help="list backends, their strategies and capabilities")
    b.add_argument("--format", choices=("table", "json"), default="table")

    ls = sub.add_parser("runs", help="list stored runs")
    ls.add_argument("--store", default=DEFAULT_STORE)

    tab = sub.add_parser(
        "tabulate",
        help="train sampled (or all) architectures of a recipe into a table of your own, resumably",
        description="Train N distinct architectures drawn with the recipe's seed (or every architecture of a "
        "finite space) under the recipe's protocol, with every zero-cost proxy, into a SQLite table. Each "
        "architecture is committed when it finishes; the same command again resumes, skipping those stored.",
    )
    tab.add_argument("recipe", help="recipe YAML file (one that trains)")
    how = tab.add_mutually_exclusive_group(required=True)
    how.add_argument("--sample", type=_int_at_least(1), metavar="N", help="N distinct architectures, seeded")
    how.add_argument("--all", action="store_true", help="every architecture of a finite space")
    tab.add_argument("--out", help="table file (default: unas-tables/<recipe name>.sqlite)")
    tab.add_argument(
        "--seed", type=_int_at_least(0, MAX_SEED), help="training and sampling seed (default: the recipe's)"
    )
    tab.add_argument("--threads", type=_threads, help=THREADS_HELP)
    tab.add_argument("--quiet", action="store_true", help="no progress output")

    px = sub.add_parser(
        "proxies", help="Spearman and Kendall correlation of each proxy, params and FLOPs with trained accuracy"
    )
    px.add_argument("table", help="a table file written by `unas tabulate`")
    px.add_argument("--json", action="store_true", help="print strict JSON instead of a text table")
    px.add_argument("--out", help="also write the correlations as a markdown report to this file")
    return p


def _cmd_run(a: argparse.Namespace) -> int:
    from unified_nas.api import run
    from unified_nas.runs.runner import resume_run

    if a.resume is not None:
        given = [
            f
            for f, v in (
                ("RECIPE", a.recipe),
                ("--backend", a.backend),
                ("--strategy", a.strategy),
                ("--trials", a.trials),
                ("--time", a.time_s),
                ("--seed", a.seed),
                ("--pruner", a.pruner),
                ("--option", a.option or None),
                ("--runs-dir", a.runs_dir),
                ("--default-first", a.default_first or None),
                ("--device", a.device),
                ("--storage", a.storage),
            )
            if v is not None
        ]
        if given:
            raise UserError(f"--resume continues a stored run as it was started; drop {', '.join(given)}")
        return _summary(
            resume_run(
                a.resume, store=_existing_store(a.store, readonly=False), progress=not a.quiet, threads=a.threads
            ),
            a.store,
        )
    if a.recipe is None or a.backend is None:
        raise UserError("run needs a RECIPE and --backend (or --resume RUN_ID)")
    report = run(
        a.recipe,
        a.backend,
        strategy=a.strategy,
        trials=a.trials,
        time_s=a.time_s,
        seed=a.seed,
        pruner=a.pruner,
        option_texts=parse_assignments(a.option),
        options={
            **({"default_first": True} if a.default_first else {}),
            **({"storage": a.storage} if a.storage is not None else {}),
        }
        or None,
        threads=a.threads,
        device=a.device,
        store=a.store,
        runs_dir=a.runs_dir or None,
        progress=not a.quiet,
    )
    return _summary(report, a.store)


def _summary(report: RunReport, store: str) -> int:
    """Prints a finished run's summary; exit 1 if no trial completed (a run that found nothing did not work)."""
    spent, inc = report.budget_spent, report.incumbent
    print(f"run {report.run_id}: {status_counts(spent, number_first=True)} in {spent['wall_s']:.1f}s")
    if inc:
        key = "true_accuracy" if report.by_table else "test_accuracy"
        shown = "-" if inc.get(key) is None else f"{inc[key]:.4g}"
        print(f"best: trial {inc['index']} {report.objectives[0]['metric']}={inc['objectives'][0]:.4g} ({key} {shown})")
    print(f"report: unas report {report.run_id} --store {store}   (files in {report.run_dir})")
    if not spent["complete"]:
        first = next((t.error for t in report.trials if t.error), None)
        why = f"; first error: {first.strip().splitlines()[-1][:300]}" if first else ""
        print(
            f"unas: error: no trial completed ({spent['failed']} failed, {spent['pruned']} pruned"
            f"{', ' + str(spent['infeasible']) + ' infeasible' if spent.get('infeasible') else ''}){why}",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    return EXIT_OK


def _existing_store(path: str, readonly: bool = True) -> ResultsStore:
    """Opens a store that must already exist (reading commands never create or alter one).

    Args:
        path: The store file.
        readonly: Open it read-only (every command but ``run --resume``).

    Raises:
        StoreError: Naming the path, if there is no store there or it is not ours.
    """
    return ResultsStore(path, readonly=readonly, create=False)


def _cmd_report(a: argparse.Namespace) -> int:
    from unified_nas.report.render import RENDERERS

    store = _existing_store(a.store)
    if a.run_id.startswith("suite-") or (a.run_id != "latest" and store.is_suite(a.run_id)):
        from unified_nas.benchmark.suite import SUITE_RENDERERS, suite_data

        fmt = a.format or "html"
        if fmt not in SUITE_RENDERERS:
            raise UserError(f"--format {fmt} is for runs; a suite report is html, md or json")
        suite = store.suite(a.run_id)
        text = SUITE_RENDERERS[fmt](suite_data(store, suite["bench_ids"], created_at=suite["created_at"]))
    elif a.run_id.startswith("bench-") or (a.run_id != "latest" and store.is_bench(a.run_id)):
        from unified_nas.benchmark.render import BENCH_RENDERERS
        from unified_nas.benchmark.summary import bench_data

        fmt = a.format or "html"
        if fmt not in BENCH_RENDERERS:
            raise UserError(f"--format {fmt} is for runs; a benchmark report is html, md or json")
        text = BENCH_RENDERERS[fmt](bench_data(store, a.run_id))
    else:
        fmt = a.format or "table"
        if fmt not in RENDERERS:
            raise UserError(f"--format {fmt} is for benchmarks; a run report is table, json or csv")
        report = store.load_run(a.run_id)
        report.status = shown_status(report.status, report.process)
        text = RENDERERS[fmt](report)
    text = text.rstrip("\n") + "\n"
    if a.output:
        try:
            Path(a.output).write_text(text)
        except OSError as e:
            raise UserError(f"--output: cannot write {a.output}: {e.strerror or e}") from None
        print(f"wrote {a.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cmd_bench(a: argparse.Namespace) -> int:
    from unified_nas.api import bench

    strategies = {}
    for item in a.strategy:
        name, sep, strat = item.partition("=")
        if not sep or not name or not strat:
            raise UserError(f"--strategy: expected BACKEND=NAME, got {item!r}")
        strategies[name] = strat
    result = bench(
        a.recipes,
        backends=a.backends,
        seeds=a.seeds,
        trials=a.trials,
        time_s=a.time_s,
        strategies=strategies,
        jobs=a.jobs,
        threads=a.threads,
        retrain=a.retrain,
        default_first=a.default_first,
        resume=a.resume,
        store=a.store,
        runs_dir=a.runs_dir or None,
        executor=a.executor,
        device=a.device,
        scheduler=a.scheduler,
    )
    for bench_id, paths in result.reports.items():
        print(f"benchmark {bench_id}: reports {', '.join(paths)}")
    if result.suite_id is not None:
        print(f"suite {result.suite_id}: reports {', '.join(result.suite_reports)}")
    print(f"view again: unas report {result.id} --format html|md|json --store {a.store}")
    bad = result.incomplete()
    if bad:
        print("unas: error: some runs did not complete (kept in the report): " + "; ".join(bad), file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def _cmd_export(a: argparse.Namespace) -> int:
    from unified_nas.commands.export import export_trial

    report = _existing_store(a.store).load_run(a.run_id)
    out = Path(a.output) if a.output else Path(report.run_dir) / f"export-{a.trial}-{a.format}"

    def announce(trial: TrialRecord) -> None:
        print(
            f"retraining trial {trial.index} of {report.run_id} ({report.backend['name']}) for {a.format} ...",
            file=sys.stderr,
        )

    info = export_trial(report, a.trial, a.format, out, on_start=announce)
    m = info["exported_metrics"]
    print(
        f"wrote {out / info['file']} and {out / 'sample.json'}: trial {info['trial']}, val_accuracy "
        f"{m['val_accuracy']:.4g} (trial: {info['trial_metrics']['val_accuracy']:.4g}), test_accuracy {m['test_accuracy']:.4g}"
    )
    return EXIT_OK


def _cmd_validate(a: argparse.Namespace) -> int:
    from unified_nas.recipe import load_recipe
    from unified_nas.runs.runner import check_data_fits
    from unified_nas.space import space_size
    from unified_nas.tables.recipes import load_recipe_data

    recipe = load_recipe(a.recipe)
    data = load_recipe_data(recipe)
    check_data_fits(recipe, data)
    if a.backend:  # one process per backend, as a benchmark checks them (a process holds one Keras backend)
        from unified_nas.benchmark.preflight import preflight

        preflight({name: [(recipe, {}, recipe.seed, None, None)] for name in a.backend})
    decls = recipe.space.decls()
    print(
        f"{a.recipe}: ok ({recipe.space.kind} space, {len(decls)} parameters, size {space_size(decls)},"
        f" data {data.name} {data.split.sizes})" + (f"; backends {', '.join(a.backend)} ok" if a.backend else "")
    )
    return EXIT_OK


def _cmd_backends(a: argparse.Namespace) -> int:
    from unified_nas.core.errors import BackendUnavailable
    from unified_nas.runs.registry import entries

    rows = []
    for name, entry in sorted(entries().items()):
        try:
            rows.append({"installed": True, **entry.backend_class().describe()})
        except BackendUnavailable as e:
            rows.append({"name": name, "installed": False, "reason": str(e)})
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        if not row["installed"]:
            print(f"{row['name']}: not installed ({row['reason']})")
            continue
        print(
            f"{row['name']} {row['version']}: strategies {', '.join(row['strategies'])} (default {row['default_strategy']});"
            f" multi-objective {', '.join(row['multi_objective']) or '-'}; one-shot {', '.join(row['one_shot']) or '-'};"
            f" spaces {', '.join(row['space_kinds'])};"
            f" pruners {', '.join(row['pruners'])}"
        )
        for o in row["options"]:
            allowed = (
                f" one of {', '.join(map(str, o['choices']))}"
                if "choices" in o
                else f" in {o['range'][0] if o['range'][0] is not None else ''}..{o['range'][1] if o['range'][1] is not None else ''}"
                if "range" in o
                else ""
            )
            default = "" if o["default"] is None else f", default {o['default']}"
            print(f"    --option {o['name']}=<{o['type']}>{allowed}{default}: {o['help']}")
    return EXIT_OK


def _cmd_worker(a: argparse.Namespace) -> int:
    from unified_nas.runs.runner import join_run

    ran = join_run(
        a.run_id,
        a.storage,
        backend_name=a.backend,
        trials=a.trials,
        threads=a.threads,
        device=a.device,
        progress=not a.quiet,
    )
    print(f"worker: ran {ran} trial(s) of run {a.run_id}; they are stored by the run's first process")
    return EXIT_OK


def _cmd_metrics(a: argparse.Namespace) -> int:
    from dataclasses import asdict

    from unified_nas.core.metrics import METRICS

    if a.format == "json":
        print(json.dumps([asdict(m) for m in METRICS.values()], indent=2))
        return EXIT_OK
    width = max(map(len, METRICS))
    print(f"{'metric'.ljust(width)}  {'direction':9}  {'cost':9}  how it is computed")
    for m in METRICS.values():
        print(f"{m.name.ljust(width)}  {m.direction:9}  {m.cost:9}  {m.how}")
    print("constraints: any metric whose cost is not 'trained' (checked before a sample is trained)")
    return EXIT_OK


def _cmd_runs(a: argparse.Namespace) -> int:
    import time

    for rid, recipe, backend, status, started, owner in _existing_store(a.store).list_runs():
        print(
            f"{rid}  {recipe}  {backend}  {shown_status(status, owner)}  "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}"
        )
    return EXIT_OK


def _cmd_tabulate(a: argparse.Namespace) -> int:
    from unified_nas.runs.threads import apply_threads, plan_threads

    count, source = plan_threads(a.threads)  # before torch is imported, as `unas run` does
    from unified_nas.commands.tabulate import tabulate
    from unified_nas.recipe import load_recipe
    from unified_nas.tables.own_format import default_table_path

    if a.out == "":  # not the default place: an empty name is a mistake (a shell variable unset)
        raise UserError("--out: empty file name")
    recipe = load_recipe(a.recipe)
    out = Path(a.out) if a.out is not None else default_table_path(recipe.name)
    import torch  # noqa: F401  (loaded now, so apply_threads can size its pools)

    apply_threads(count, source)
    s = tabulate(recipe, out, sample=a.sample, all=a.all, seed=a.seed, progress=not a.quiet)
    size = "infinite" if s.space_size == float("inf") else str(int(s.space_size))
    print(
        f"table {s.path}: {s.rows} architectures of a space of {size} ({s.mode} {s.requested}: trained {s.trained},"
        f" {s.failed} failed, {s.skipped} already stored) in {s.wall_s:.1f}s"
    )
    print(f"correlations: unas proxies {s.path}")
    return EXIT_OK


def _cmd_proxies(a: argparse.Namespace) -> int:
    from unified_nas.core.jsontext import strict_json
    from unified_nas.tables.correlation import correlations_markdown, correlations_text, proxy_correlations
    from unified_nas.tables.own import OwnTable

    if a.out == "":  # an empty name is a mistake, not "no report"
        raise UserError("--out: empty file name")
    with OwnTable.open(a.table) as table:
        if a.out is not None and table.same_file(a.out):  # the report would overwrite its own input
            raise UserError(f"--out: {a.out} is the table {a.table} itself; write the report to another file")
        rows = proxy_correlations(table)
        if a.json:
            text = strict_json({"table": str(table.path), **table.meta.to_dict(), "correlations": rows}, indent=2)
        else:
            text = correlations_text(table, rows)
        if a.out:  # written first: a bad --out fails before anything is printed
            try:
                Path(a.out).write_text(correlations_markdown(table, rows))
            except OSError as e:
                raise UserError(f"--out: cannot write {a.out}: {e.strerror or e}") from None
    sys.stdout.write(text.rstrip("\n") + "\n")
    if a.out:
        print(f"wrote {a.out}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "run": _cmd_run,
    "bench": _cmd_bench,
    "export": _cmd_export,
    "report": _cmd_report,
    "validate": _cmd_validate,
    "backends": _cmd_backends,
    "metrics": _cmd_metrics,
    "worker": _cmd_worker,
    "runs": _cmd_runs,
    "tabulate": _cmd_tabulate,
    "proxies": _cmd_proxies,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``unas``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):  # TensorFlow's C++ start-up lines, should anything import it
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    handle_sigterm()
    try:
        return COMMANDS[args.command](args)
    except (UserError, StoreError) as e:
        print(f"unas: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        run_id = getattr(e, "unas_run_id", None)  # set by the runner once the run was stored
        hint = f"; continue with `unas run --resume {run_id}`" if args.command == "run" and run_id else ""
        print(f"unas: {what}; finished trials are in the store{hint}", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    except ResumeDiverged as e:
        print(f"unas: error: {one_line(e)}", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as e:  # a runtime failure: one line, the stored report keeps the rest
        print(f"unas: {args.command} failed: {type(e).__name__}: {one_line(e, 500)}", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
