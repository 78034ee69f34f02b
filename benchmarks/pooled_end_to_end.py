"""Pool several end-to-end reports of the same datasets into one comparison.

automl_meta's search follows the time its trials take, so two runs of the same code on
the same splits differ, and one run's mean ranks move by about the gap between automl_meta
and TPE. Pooling runs averages that out: each method's score on a dataset is the mean over
every run and seed of its records, and the ranks, wins / ties / losses and targets are
those of :func:`end_to_end.summarise` on the pooled scores. A record found in several
reports (a budget-free method's run, carried from one report to the next) counts once.
The report also lists each input's own mean ranks.

    python benchmarks/pooled_end_to_end.py benchmarks/results/end_to_end_five_folds_30s.json \
        benchmarks/results/end_to_end_five_folds_30s_repeat.json \
        --name end_to_end_five_folds_30s_pooled

writes benchmarks/results/NAME.{md,json}. The reports must be of the same datasets and
methods: a dataset some report lacks is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from end_to_end import BUDGETED, METHODS, markdown, summarise  # noqa: E402

#: The fields that make two records the same run.
RUN_FIELDS = ("dataset", "method", "budget", "seed", "search", "data", "score", "fit_seconds")


def read_report(path: Path) -> dict:
    """An end-to-end report's JSON, checked to hold what pooling reads."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: not a readable JSON report: {exc}") from exc
    if not isinstance(report, dict):
        raise SystemExit(f"{path}: not a report of benchmarks/end_to_end.py")
    for key, kind in (("records", list), ("run_datasets", list), ("summary", dict)):
        if not isinstance(report.get(key), kind):
            raise SystemExit(f"{path}: no {key} (not a report of benchmarks/end_to_end.py)")
    return report


def pooled_records(reports: Sequence[dict]) -> list[dict]:
    """Every report's records, a record found in several counted once."""
    seen, out = set(), []
    for report in reports:
        for record in report["records"]:
            key = tuple(json.dumps(record.get(f), sort_keys=True) for f in RUN_FIELDS)
            if key not in seen:
                seen.add(key)
                out.append(record)
    return out


def check_same_datasets(reports: Sequence[dict], paths: Sequence[Path]) -> None:
    """Refuse reports that did not run the same datasets."""
    first = set(reports[0]["run_datasets"])
    for report, path in zip(reports[1:], paths[1:], strict=True):
        if set(report["run_datasets"]) != first:
            differ = sorted(first.symmetric_difference(report["run_datasets"]))
            raise SystemExit(f"{path} ran other datasets than {paths[0]}: "
                             f"{', '.join(differ[:10])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT",
                        help="JSON reports written by benchmarks/end_to_end.py")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="end_to_end_pooled",
                        help="the results files' name: OUT/NAME.md and OUT/NAME.json")
    args = parser.parse_args(argv)
    if len(args.reports) < 2:
        parser.error("give at least two reports to pool")
    reports = [read_report(path) for path in args.reports]
    check_same_datasets(reports, args.reports)
    records = pooled_records(reports)
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    budgets = sorted({float(r["budget"]) for r in records
                      if r["method"] in BUDGETED and r["budget"] is not None})
    summary = summarise(records, methods, budgets)
    own = []
    for path, report in zip(args.reports, reports, strict=True):
        for budget, comp in report["summary"].get("budgets", {}).items():
            ranks = ", ".join(f"{m} {v:.2f}" for m, v in
                              sorted(comp["mean_rank"].items(), key=lambda item: item[1]))
            own.append(f"- `{path}`, {budget} s: {ranks}")
    runs = {m: sum(r["method"] == m for r in records) for m in methods}
    settings = (f"{len(reports)} reports pooled: each method's score on a dataset is the "
                f"mean of its records over every report and seed ({len(records)} records, "
                f"one per run: " + ", ".join(f"{m} {n}" for m, n in runs.items())
                + "). Each report's own mean ranks:\n\n" + "\n".join(own))
    command = "python benchmarks/pooled_end_to_end.py " + " ".join(
        str(p) for p in args.reports) + f" --name {args.name}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "settings_text": settings}
    (out / f"{args.name}.md").write_text(markdown(summary, meta))
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "settings_text": settings,
         "reports": [str(p) for p in args.reports], "summary": summary}, indent=1) + "\n")
    for target in summary["targets"]:
        print(f"{target['target']}: {target['met']} ({target['detail']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
