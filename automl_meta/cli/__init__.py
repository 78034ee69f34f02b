"""The ``automl-meta`` command line.

Exit codes: 0 success; 1 the work ran but failed (an evaluation that failed, a model or
predictions file that cannot be written; a build with failures is still 0: failures are
recorded results); 2 bad input or usage; 130 interrupted. Errors are printed as one line on
stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from automl_meta import __version__
from automl_meta.exceptions import AutoMetaError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset arguments of the commands that read one: DATA, --target, --task,
    --drop."""
    parser.add_argument("data", help="CSV/TSV (.gz), ARFF, Parquet file, or openml:<id>")
    parser.add_argument("--target",
                        help="target column (default: target/class/last ARFF attribute)")
    parser.add_argument("--task", choices=("classification", "regression"),
                        help="default: inferred from the target")
    parser.add_argument("--drop", nargs="+", default=[], metavar="COLUMN",
                        help="columns to leave out of the features, such as an identifier "
                             "or a column that gives the target away")


def add_row_arguments(parser: argparse.ArgumentParser) -> None:
    """``--groups COLUMN`` and ``--weights COLUMN`` of the commands that validate (``fit``,
    ``evaluate``)."""
    parser.add_argument("--groups", metavar="COLUMN",
                        help="a column of group labels (a patient, a site...): it is not a "
                             "feature, and the rows of a group are never split between "
                             "training and validation (group folds)")
    parser.add_argument("--weights", metavar="COLUMN",
                        help="a column of row weights (not negative): it is not a feature; "
                             "models train on the weighted rows and the metric weighs them "
                             "(k-NN, which cannot, is left out)")


def load_data(args: argparse.Namespace):
    """The dataset of DATA, --target, --task and --drop. Warns of a column that looks like
    a saved row index (pandas' ``Unnamed: 0``), which would otherwise go unnoticed as a
    feature."""
    from automl_meta.data import load_source

    dataset = load_source(args.data, args.target, args.task, drop=args.drop)
    for name in dataset.X.columns:
        values = dataset.X[name]
        if (re.fullmatch(r"Unnamed: \d+", name) and values.dtype == "float64"
                and values.notna().all() and (values % 1 == 0).all() and values.is_unique):
            warnings.warn(f"column {name!r} has no name in {args.data} and a different whole "
                          f"number in every row, as a saved row index has; it is used as a "
                          f"feature unless left out with --drop {shlex.quote(name)}",
                          UserWarning, stacklevel=1)
    return dataset


def take_column(dataset, column: str | None, option: str, source: str):
    """(``dataset`` without ``column``, that column's values), or (``dataset``, None) when
    no column is named; ``option`` names the command-line option in errors."""
    import dataclasses

    from automl_meta.exceptions import DataValidationError

    if column is None:
        return dataset, None
    if column not in dataset.X.columns:
        raise DataValidationError(f"{option}: no column {column!r} among the features of "
                                  f"{source}")
    return (dataclasses.replace(dataset, X=dataset.X.drop(columns=[column])),
            dataset.X[column].to_numpy())


METRIC_HELP = ("a built-in metric's name (roc_auc, log_loss, balanced_accuracy; rmse, mae, "
               "r2), or FILE.py:NAME, a metric of your own that the Python file FILE.py makes "
               "with automl_meta.evaluation.make_metric and calls NAME")


def read_metric(value: str | None):
    """``--metric``: a built-in metric's name as it is, or the :class:`Metric` that the
    Python file of ``FILE.py:NAME`` defines as ``NAME`` (the file is run to get it)."""
    import runpy

    from automl_meta.evaluation import Metric
    from automl_meta.exceptions import DataSourceError, DataValidationError

    if value is None or ":" not in value:
        return value
    file, _, name = value.rpartition(":")
    path = Path(file)
    if path.suffix != ".py" or not name.isidentifier():
        raise DataValidationError(f"--metric: {value!r} is neither a built-in metric's name "
                                  f"nor FILE.py:NAME")
    if not path.is_file():
        raise DataSourceError(f"--metric: no such file: {path}")
    try:
        namespace = runpy.run_path(str(path), run_name="automl_meta_metric_file")
    except Exception as exc:  # noqa: BLE001 - the user's file: say where it failed
        raise DataValidationError(f"--metric: running {path} raised {type(exc).__name__}: "
                                  f"{exc}") from exc
    if name not in namespace:
        raise DataValidationError(f"--metric: {path} defines no {name!r}")
    metric = namespace[name]
    if not isinstance(metric, Metric):
        raise DataValidationError(
            f"--metric: {name!r} in {path} is a {type(metric).__name__}, not a metric: make "
            f"it with automl_meta.evaluation.make_metric(name, func, task, ...)")
    return metric


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def cv_argument(text: str) -> int | float | str:
    """``--cv``: auto, a number of folds or a holdout share (checked by the estimator)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected auto, an integer or a float, got "
                                             f"{text!r}") from None


def search_rows_argument(text: str) -> int | str | None:
    """``--search-rows``: auto, all (None) or a number of rows (checked by the estimator)."""
    if text in ("auto", "all"):
        return None if text == "all" else text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, all or an integer, got "
                                         f"{text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl-meta",
        description="Meta-learned AutoML for tabular data.",
    )
    parser.add_argument("--version", action="version", version=f"automl-meta {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = commands.add_parser("info", help="versions and knowledge-base status")
    info.add_argument("--knowledge-base", metavar="DIR", help="a knowledge-base folder to check")
    info.add_argument("--json", action="store_true", help="print JSON")

    ev = commands.add_parser("evaluate", help="cross-validate one configuration on a data file")
    add_data_arguments(ev)
    ev.add_argument("--family", required=True, help="model family, e.g. lightgbm")
    ev.add_argument("--params", default=None,
                    help="configuration as JSON (default: the family's defaults)")
    ev.add_argument("--metric", help=f"primary metric (default: roc_auc or rmse): "
                                     f"{METRIC_HELP}")
    ev.add_argument("--cv", type=cv_argument, default=5,
                    help="number of folds, or a holdout share (a float in (0, 1)); default 5")
    add_row_arguments(ev)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--time-limit", type=_positive_float, help="seconds for the whole CV")
    ev.add_argument("--memory-limit", type=_positive_int, metavar="MB")
    ev.add_argument("--json", action="store_true", help="print the full result as JSON")

    b = commands.add_parser(
        "build", help="build or extend a meta-dataset store; export a knowledge base",
        description="Evaluate every family's design of configurations on every dataset, "
        "writing each result to the store as it finishes. Run the same command again to "
        "resume after an interruption.")
    b.add_argument("paths", nargs="*", help="data files or folders of data files")
    b.add_argument("--manifest", help="a corpus manifest CSV (name, path, target, task, ...)")
    b.add_argument("--openml", nargs="+", default=[], metavar="ID", help="OpenML dataset ids")
    b.add_argument("--suite", nargs="+", default=[], metavar="ID",
                   help="OpenML suites or studies (e.g. 99 for OpenML-CC18)")
    b.add_argument("--target", help="target column for plain data files")
    b.add_argument("--store", default="automl-meta-store.sqlite", help="SQLite store to fill")
    b.add_argument("--families", nargs="+", help="model families (default: all)")
    b.add_argument("--configs", type=_positive_int, default=24,
                   help="configurations per family: the default plus a Sobol design (24)")
    b.add_argument("--random", type=int, default=0, help="extra random configurations (0)")
    b.add_argument("--cv", type=int, default=2, help="folds per evaluation (2)")
    b.add_argument("--max-rows", type=_positive_int, default=1000,
                   help="subsample larger datasets to this many rows (1000)")
    b.add_argument("--time-limit", type=_positive_float, default=30.0,
                   help="seconds per evaluation (30)")
    b.add_argument("--memory-limit", type=_positive_int, default=6144, metavar="MB",
                   help="memory per evaluation worker (6144)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--jobs", type=_positive_int, default=1, help="parallel evaluations (1)")
    b.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler")
    b.add_argument("--limit", type=_positive_int,
                   help="only the N smallest datasets (by rows x features when known)")
    b.add_argument("--min-rows", type=int, default=0,
                   help="only datasets with more rows than this (0)")
    b.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    b.add_argument("--no-metafeatures", action="store_true",
                   help="evaluations only; a later run computes missing meta-features")
    b.add_argument("--seed-from", metavar="DIR",
                   help="first copy an exported knowledge base into the store (to resume)")
    b.add_argument("--export", metavar="DIR", help="write the knowledge base (Parquet) here")
    b.add_argument("--extension", nargs="+", metavar="STORE", default=[],
                   help="with --export: add these stores' evaluations, made with another "
                   "protocol on some of the datasets (e.g. --max-rows 8000 --min-rows 3000)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")

    from automl_meta.cli import _fit, _train

    _train.add_parser(commands)
    _fit.add_parsers(commands)

    rec = commands.add_parser(
        "recommend", help="recommend model families, configurations and priors for a data file",
        description="Embed the dataset by its meta-features and rank model families and "
        "configurations with the meta-learner of the knowledge base.")
    add_data_arguments(rec)
    rec.add_argument("-k", "--k", type=_positive_int, default=10,
                     help="configurations to recommend (10)")
    rec.add_argument("--families", nargs="+", help="restrict to these model families")
    rec.add_argument("--knowledge-base", metavar="DIR",
                     help="a knowledge-base folder with its metalearner/ (default: shipped)")
    rec.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # which restores the printer
            warnings.showwarning = _warning_printer(args.command)
            return _COMMANDS[args.command](args)
    except AutoMetaError as exc:
        print(f"automl-meta {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output that cannot be written: read-only, disk full, ...
        print(f"automl-meta {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"automl-meta {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _warning_printer(command: str):
    """Warnings as one plain line each on stderr, as the errors are, and each once (the
    file's reading and the fit may say the same)."""
    shown = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        if text not in shown:
            shown.add(text)
            print(f"automl-meta {command}: warning: {text}", file=sys.stderr)

    return show


def _info(args) -> int:
    from automl_meta.metadataset.knowledge_base import KnowledgeBase, _versions, default_path

    report = {"versions": _versions()}
    path = args.knowledge_base or default_path()
    try:
        kb = KnowledgeBase.load(path)
        report["knowledge_base"] = {"path": str(path), "status": "ok",
                                    "format_version": kb.manifest["format_version"],
                                    "created_at": kb.manifest.get("created_at"),
                                    **kb.counts()}
        if "max_rows" in kb.evaluations.columns:
            per = kb.evaluations.groupby("max_rows")["dataset"].nunique()
            report["knowledge_base"]["datasets_by_max_rows"] = {
                str(int(k)): int(v) for k, v in per.items()}
    except AutoMetaError as exc:
        report["knowledge_base"] = {"path": str(path), "status": "unavailable",
                                    "error": str(exc)}
    report["metalearner"] = _learner_report(Path(path) / "metalearner")
    try:
        import torch

        report["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        report["device"] = "torch not installed"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"automl-meta {__version__}")
        for name, version in report["versions"].items():
            print(f"  {name:14s} {version}")
        print(f"  {'device':14s} {report['device']}")
        for title, part in (("knowledge base", report["knowledge_base"]),
                            ("meta-learner", report["metalearner"])):
            print(f"{title}: {part['path']} ({part['status']})")
            for key, value in part.items():
                if key not in ("path", "status"):
                    print(f"  {key}: {value}")
    ok = report["knowledge_base"]["status"] == report["metalearner"]["status"] == "ok"
    return EXIT_OK if ok else EXIT_FAILED


def _learner_report(folder: Path) -> dict:
    """What a saved meta-learner's config.json says (read as JSON: torch not needed)."""
    try:
        config = json.loads((folder / "config.json").read_text())
        return {"path": str(folder), "status": "ok",
                "method": config["constructor"]["method"],
                "families": len(config["families"]),
                "training_datasets": len(config["training"]["datasets"]),
                "training_evaluations": config["training"]["n_trials"],
                "sample_size_input": config.get("fidelity") is not None}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"path": str(folder), "status": "unavailable",
                "error": f"{type(exc).__name__}: {exc}; train one with 'automl-meta train'"}


def _evaluate(args) -> int:
    from automl_meta.evaluation import evaluate
    from automl_meta.spaces import default_params, get_family

    get_family(args.family)
    metric = read_metric(args.metric)  # a file of the user's fails before the data loads
    dataset = load_data(args)
    dataset, groups = take_column(dataset, args.groups, "--groups", args.data)
    dataset, weights = take_column(dataset, args.weights, "--weights", args.data)
    if args.params is None:
        params = default_params(args.family, dataset.task)
    else:
        try:
            params = json.loads(args.params)
        except json.JSONDecodeError as exc:
            raise _usage(f"--params is not valid JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise _usage("--params must be a JSON object")
    result = evaluate(args.family, params, dataset, metric=metric, cv=args.cv,
                      groups=groups, sample_weight=weights, seed=args.seed,
                      time_limit=args.time_limit,
                      memory_limit_mb=args.memory_limit)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{dataset.name}: {dataset.n_rows} rows x {dataset.n_features} features, "
              f"{dataset.task}")
        print(f"{args.family} {json.dumps(result.params)}")
        if result.ok:
            for metric, values in result.fold_scores.items():
                folds = " ".join(f"{v:.4f}" for v in values)
                mark = "*" if metric == result.metric else " "
                print(f" {mark}{metric:18s} {sum(values) / len(values):.4f}   folds: {folds}")
            print(f"  fit {sum(result.fit_seconds):.2f} s, "
                  f"predict {sum(result.predict_seconds):.2f} s")
        else:
            print(f"status: {result.status}: {result.error}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _usage(message: str) -> AutoMetaError:
    from automl_meta.exceptions import DataValidationError

    return DataValidationError(message)


def _build(args) -> int:
    from automl_meta.metadataset import sources
    from automl_meta.metadataset.builder import Builder, Protocol
    from automl_meta.metadataset.knowledge_base import KnowledgeBase
    from automl_meta.metadataset.store import Store

    missing = [p for p in args.extension if not Path(p).is_file()]
    if missing:
        raise _usage(f"no store at {missing[0]} (--extension)")
    if args.extension and not args.export:
        raise _usage("--extension only applies to --export")
    specs = []
    if args.manifest:
        specs += sources.from_manifest(args.manifest)
    if args.paths:
        specs += sources.from_paths(args.paths, target=args.target)
    if args.openml:
        specs += sources.from_openml(args.openml)
    if args.suite:
        specs += sources.from_openml_suites(args.suite)
    if args.limit is not None:
        specs = sources.smallest(specs, args.limit, args.manifest)
    store = Store(args.store)
    if args.seed_from:
        added = store.import_knowledge_base(KnowledgeBase.load(args.seed_from))
        print(f"seeded {args.store} with {added} fold rows from {args.seed_from}")
    protocol = Protocol(n_configs=args.configs, n_random=args.random, cv=args.cv,
                        max_rows=args.max_rows, time_limit=args.time_limit,
                        memory_limit_mb=args.memory_limit, seed=args.seed)
    summary = None
    if specs:
        builder = Builder(store, protocol, families=args.families, jobs=args.jobs,
                          scheduler=args.scheduler, progress=not args.quiet,
                          metafeatures=not args.no_metafeatures, min_rows=args.min_rows)
        summary = builder.run(specs, dry_run=args.dry_run,
                              on_plan=_show_plan if args.dry_run else None)
        _print_summary(summary, store, args.dry_run)
    elif not args.export:
        raise _usage("nothing to build: give --manifest, data paths, --openml or --suite")
    if args.export and not args.dry_run:
        kb = KnowledgeBase.from_store(store)
        for path in args.extension:
            kb = kb.extend(KnowledgeBase.from_store(Store(path)))
        kb.save(args.export, built_with=" ".join(["automl-meta", *sys.argv[1:]]))
        print(f"exported {kb.counts()} to {args.export}")
    if summary is not None and summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _show_plan(tasks) -> None:
    from collections import Counter

    by_family = Counter(t.family for t in tasks)
    print(f"would run {len(tasks)} evaluations on {len({t.dataset for t in tasks})} datasets:")
    for family, count in sorted(by_family.items()):
        print(f"  {family:24s} {count}")


def _print_summary(summary, store, dry_run: bool) -> None:
    for name, why in sorted(summary.skipped.items()):
        print(f"skipped {name}: {why}")
    if summary.too_small:
        print(f"left out {summary.too_small} datasets with too few rows (--min-rows)")
    if dry_run:
        return
    counts = store.counts()
    print(f"ran {summary.done} of {summary.planned} evaluations in {summary.seconds:.0f} s "
          f"({summary.remaining} remaining); failures by family: "
          f"{summary.failed_by_family or 'none'}")
    print(f"store {store.path}: {counts['datasets']} datasets, {counts['evaluations']} "
          f"evaluations ({counts['failed']} failed)")


def _recommend(args) -> int:
    from automl_meta.metadataset.knowledge_base import KnowledgeBase
    from automl_meta.recommendation import recommend

    dataset = load_data(args)
    kb = learner = None
    if args.knowledge_base:
        from automl_meta.metalearner import MetaLearner

        kb = KnowledgeBase.load(args.knowledge_base)
        learner = MetaLearner.load(kb.path / "metalearner")
    result = recommend(dataset.X, dataset.y, k=args.k, task=dataset.task, learner=learner,
                       knowledge_base=kb, families=args.families)
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else result)
    return EXIT_OK


def _train_command(args) -> int:
    from automl_meta.cli import _train

    return _train.run(args)


def _fit_command(args) -> int:
    from automl_meta.cli import _fit

    return _fit.run_fit(args)


def _predict_command(args) -> int:
    from automl_meta.cli import _fit

    return _fit.run_predict(args)


_COMMANDS = {"info": _info, "evaluate": _evaluate, "build": _build, "train": _train_command,
             "fit": _fit_command, "predict": _predict_command, "recommend": _recommend}


if __name__ == "__main__":
    sys.exit(main())
