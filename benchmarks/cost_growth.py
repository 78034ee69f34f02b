"""How trial times grow beyond the knowledge base's samples, and how well the sampler's
cost model predicts them there.

Under a time budget, :class:`~automl_meta.MetaLearnedSampler` predicts how long a
configuration takes on the study's data (``_Costs``): relative costs learned from the
knowledge base's fit times, calibrated by the trials that have finished. A family not
tried yet is carried to the study's rows by how fast its fit time grows with them
(``growth``), which the knowledge base measures between its samples of 1,000 and 8,000
rows only. This benchmark times trials on more rows than that.

On every dataset of the manifest with enough rows (near-duplicates counted once), each
family's configurations at the 10th, 50th and 90th percentile of the knowledge base's
fit times are evaluated as a search on large data evaluates them: a 10% holdout
(``evaluate(..., cv=0.1, max_rows=...)``) training on 8,000, 24,000 and 72,000 rows
where the dataset has them, in a worker process limited to ``--time-limit`` seconds
(a configuration that takes longer is not run on more rows). A trial's time is its fit
plus its prediction of the holdout.

Then, for every dataset and size, every family ``t`` stands for the trial that has
finished (its middle configuration, measured) and every configuration of every other
family is predicted as the sampler predicts a family not tried yet: the cost model
learned from the knowledge base without the dataset's group, calibrated on that one
trial, with

- ``shipped``: the sampler's own prediction (``_Costs.calibrate`` on the finished trial,
  then ``_Costs.seconds``): trial seconds (fitting and predicting), corrected for the
  rows by :meth:`_Costs.shift` (the difference of the knowledge base's slopes times the
  log of the rows over its typical rows);
- ``slopes below 1 counted as 1 beyond 8,000 rows``: the knowledge base's slopes only
  up to the rows they were measured on, then at least linear growth (fixed costs
  weigh less on more rows);
- ``fit times only (before)``: the sampler before this benchmark, whose cost model
  knew fit seconds only;
- ``no correction``: trial seconds, no correction for the rows.

Reported per rule and size: the median absolute error of log2 seconds, the share of
predictions more than twice too low (a trial that then uses up the time it was given)
and more than twice too high (a trial passed over), over predictions of measured times;
and of the configurations that ran out of time, the share predicted under the limit.

    python benchmarks/cost_growth.py

writes benchmarks/results/cost_growth.{json,md}. Each measured trial is appended to a
file in the temporary folder named by the settings and the evaluation code
(``--cache``), so that an interrupted run started again goes on where it stopped; the
predictions are recomputed every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial

from automl_meta.data import dataset_groups, load_manifest_entry, read_manifest
from automl_meta.evaluation import evaluate
from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.sampler import MetaLearnedSampler, trial_params
from automl_meta.spaces import FAMILIES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import evaluation_version  # noqa: E402
from metalearner import training_names  # noqa: E402

SIZES = (8000, 24000, 72000)
QUANTILES = (0.1, 0.5, 0.9)
HOLDOUT = 0.1
#: The knowledge base's largest samples (its larger-sample extension's cap).
MEASURED_ROWS = 8000


def _floored(costs, family: str, tried: str, rows: int) -> float:
    """The measured slopes up to :data:`MEASURED_ROWS`, slopes below 1 counted as 1 beyond."""
    beyond = max(math.log(rows / MEASURED_ROWS), 0.0)
    slope, other = costs.growth[family], costs.growth[tried]
    return (slope - other) * (costs.log_size - beyond) + (max(slope, 1) - max(other, 1)) * beyond


#: How a family not tried yet is predicted: which cost model (``trial``: the knowledge
#: base's fit and predict seconds, as shipped; ``fit``: its fit seconds only) and the
#: correction for the rows (log seconds relative to the tried family; None: the
#: sampler's own calibration and prediction).
RULES = {
    "shipped": ("trial", None),
    "slopes below 1 counted as 1 beyond 8,000 rows": ("trial", _floored),
    "fit times only (before)": ("fit", lambda costs, family, tried, rows: costs.shift(
        family, tried)),
    "no correction": ("trial", lambda costs, family, tried, rows: 0.0),
}


def configurations(kb: KnowledgeBase, task: str) -> dict[str, list[str]]:
    """Per family, the JSON parameters of its configurations at :data:`QUANTILES` of the
    knowledge base's mean fit seconds (over datasets and folds)."""
    scores = kb.scores()
    scores = scores[(scores["task"] == task) & (scores["status"] == "ok")]
    out = {}
    for family in FAMILIES:
        seconds = (scores[scores["family"] == family].groupby("params")["fit_seconds"]
                   .mean().sort_values())
        if len(seconds):
            out[family] = list(dict.fromkeys(
                seconds.index[int(q * (len(seconds) - 1))] for q in QUANTILES))
    return out


def measure(manifest: pd.DataFrame, kb: KnowledgeBase, time_limit: float, cache: Path,
            log=print) -> list[dict]:
    """One record per dataset, configuration and size (resumed from ``cache``)."""
    done = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            record = json.loads(line)
            done[record["dataset"], record["params"], record["rows"]] = record
    configs = {task: configurations(kb, task) for task in ("classification", "regression")}
    records = []
    for entry in manifest.itertuples():
        dataset = None
        for family, params_list in configs[entry.task].items():
            for params in params_list:
                for size in SIZES:
                    max_rows = math.ceil(size / (1 - HOLDOUT))
                    if max_rows > entry.rows:
                        break
                    key = (entry.name, params, size)
                    if key not in done:
                        if dataset is None:
                            dataset = load_manifest_entry(manifest.loc[entry.Index])
                        result = evaluate(family, json.loads(params), dataset, cv=HOLDOUT,
                                          max_rows=max_rows, time_limit=time_limit)
                        done[key] = {
                            "dataset": entry.name, "task": entry.task, "family": family,
                            "params": params, "rows": size, "status": result.status,
                            "seconds": (float(result.fit_seconds[0]
                                              + result.predict_seconds[0])
                                        if result.ok else None),
                            "fit_seconds": (float(result.fit_seconds[0]) if result.ok
                                            else None)}
                        with cache.open("a") as f:
                            f.write(json.dumps(done[key]) + "\n")
                        log(f"{entry.name} {family} {size}: {done[key]['status']} "
                            f"{done[key]['seconds']}")
                    records.append(done[key])
                    if done[key]["status"] != "ok":
                        break
    return records


def finished(family: str, params: dict, seconds: float) -> FrozenTrial:
    """A completed trial of ``family`` that took ``seconds``, as the sampler sees one."""
    values = trial_params(family, params)
    trial = optuna.trial.create_trial(
        params=values, value=0.0,
        distributions={k: CategoricalDistribution([v]) for k, v in values.items()})
    trial.datetime_complete = trial.datetime_start + timedelta(seconds=seconds)
    return trial


def _fit_times_only(kb: KnowledgeBase) -> KnowledgeBase:
    """``kb`` without its prediction times: the cost model as it was before it used them."""
    return KnowledgeBase(kb.datasets, kb.metafeatures, kb.configurations,
                         kb.evaluations.drop(columns="predict_seconds"), kb.manifest, kb.path)


def predictions(records: list[dict], kb: KnowledgeBase, time_limit: float) -> pd.DataFrame:
    """One row per dataset, size, calibrating family, predicted configuration and rule."""
    frame = pd.DataFrame(records)
    metafeatures = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index(
        "dataset")
    rows = []
    for (name, size), runs in frame.groupby(["dataset", "rows"]):
        task = runs["task"].iloc[0]
        train = kb.subset(training_names(kb, [name]))
        models = {}
        for label, base in (("trial", train), ("fit", _fit_times_only(train))):
            models[label] = MetaLearnedSampler(
                metafeatures=metafeatures.loc[name], task=task, knowledge_base=base,
                rows=int(size), time_left=lambda: 1.0)._costs
        measured = runs[runs["status"] == "ok"]
        for tried, group in measured.groupby("family"):
            anchor = group.iloc[len(group) // 2]
            anchor_params = json.loads(anchor["params"])
            for run in runs[runs["family"] != tried].itertuples():
                params = json.loads(run.params)
                for rule, (label, shift) in RULES.items():
                    costs = models[label]
                    if tried not in costs.growth or run.family not in costs.growth:
                        continue
                    if shift is None:
                        predicted = float(costs.seconds(
                            [trial_params(run.family, params)],
                            costs.calibrate([finished(tried, anchor_params,
                                                      anchor["seconds"])]))[0])
                    else:
                        predicted = math.exp(
                            math.log(anchor["seconds"]) - costs.relative(tried, anchor_params)
                            + costs.relative(run.family, params)
                            + shift(costs, run.family, tried, int(size)))
                    rows.append({"dataset": name, "rows": int(size), "tried": tried,
                                 "family": run.family, "params": run.params, "rule": rule,
                                 "status": run.status, "actual": run.seconds,
                                 "predicted": predicted})
    out = pd.DataFrame(rows)
    out["error"] = np.log2(out["predicted"] / out["actual"].astype(float))
    out["limit"] = time_limit
    return out


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per size and rule: the errors of the predictions of measured trials, and how many
    of the trials that ran out of time were predicted under the limit."""
    rows = []
    for (size, rule), g in table.groupby(["rows", "rule"], sort=False):
        ok = g[g["status"] == "ok"]
        late = g[g["status"] == "timeout"]
        rows.append({
            "rows": size, "rule": rule, "datasets": g["dataset"].nunique(),
            "predictions": len(ok), "median_abs_log2": float(ok["error"].abs().median()),
            "under_2x": float((ok["error"] < -1).mean()),
            "over_2x": float((ok["error"] > 1).mean()), "timeouts": len(late),
            "timeouts_under_limit": (float((late["predicted"] < late["limit"]).mean())
                                     if len(late) else float("nan"))})
    return pd.DataFrame(rows)


def growth_table(records: list[dict]) -> pd.DataFrame:
    """Per family and pair of consecutive sizes: the median log-log slope of trial
    seconds (configurations measured at both sizes)."""
    frame = pd.DataFrame(records)
    frame = frame[frame["status"] == "ok"]
    out = []
    for low, high in zip(SIZES, SIZES[1:], strict=False):
        a = frame[frame["rows"] == low].set_index(["dataset", "params"])
        b = frame[frame["rows"] == high].set_index(["dataset", "params"])
        both = a.join(b[["seconds"]].rename(columns={"seconds": "seconds_high"}), how="inner")
        both["slope"] = np.log(both["seconds_high"] / both["seconds"]) / math.log(high / low)
        for family, g in both.groupby("family"):
            out.append({"family": family, "rows": f"{low:,} to {high:,}",
                        "pairs": len(g), "slope": float(g["slope"].median())})
    return pd.DataFrame(out, columns=["family", "rows", "pairs", "slope"])


def markdown(summary: pd.DataFrame, growth: pd.DataFrame, kb_growth: dict, meta: dict) -> str:
    lines = ["# Trial times beyond the knowledge base's samples, and the cost model", "",
             f"Reproduce with `{meta['command']}`: about {meta['trial_seconds'] / 60:.0f} "
             "min of trials on one core (those that ran out of time counted at the limit), "
             f"timed once into a resumable file; this invocation took "
             f"{meta['seconds']:.0f} s.", "",
             f"{meta['datasets']} datasets of the manifest with at least "
             f"{math.ceil(SIZES[1] / (1 - HOLDOUT)):,} rows. Trials: a {HOLDOUT:.0%} "
             f"holdout, fit plus prediction, limited to {meta['time_limit']:g} s, one core. "
             "See the module docstring.", "",
             "## Growth of trial seconds with the training rows (median log-log slope)", "",
             "| family | knowledge base, 1,000 to 8,000 rows (classification, "
             "regression) | "
             + " | ".join(dict.fromkeys(growth["rows"])) + " |",
             "|---|---:|" + "---:|" * growth["rows"].nunique()]
    pivot = growth.pivot(index="family", columns="rows", values="slope")
    pivot = pivot[list(dict.fromkeys(growth["rows"]))]
    for family, values in pivot.iterrows():
        kb = ", ".join(f"{kb_growth[task][family]:.2f}" if family in kb_growth[task] else "-"
                       for task in ("classification", "regression"))
        lines.append(f"| {family} | {kb} | "
                     + " | ".join("" if pd.isna(v) else f"{v:.2f}" for v in values) + " |")
    lines += ["", "## A family not tried yet, predicted from one finished trial", "",
              "| training rows | rule | datasets | predictions | median abs. error "
              "(log2) | over 2x too low | over 2x too high | timeouts | timeouts "
              "predicted under the limit |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary.itertuples():
        late = "" if pd.isna(r.timeouts_under_limit) else f"{r.timeouts_under_limit:.0%}"
        lines.append(f"| {r.rows:,} | {r.rule} | {r.datasets:.0f} | {r.predictions:.0f} | "
                     f"{r.median_abs_log2:.2f} | {r.under_2x:.0%} | {r.over_2x:.0%} | "
                     f"{r.timeouts:.0f} | {late} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=str(Path(__file__).resolve().parents[2]
                                                  / "shared" / "datasets" / "manifest.csv"),
                        help="a dataset manifest (default: ../shared/datasets/manifest.csv)")
    parser.add_argument("--knowledge-base", default=None,
                        help="a knowledge-base folder (default: the shipped one)")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds a trial may take")
    parser.add_argument("--only", nargs="+", default=None,
                        help="time these datasets only (to split the timing between "
                             "processes); the report is written without this option")
    parser.add_argument("--cache", default=None, help="the resumable file of timed trials")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    kb = KnowledgeBase.load(args.knowledge_base)
    manifest = read_manifest(args.datasets)
    manifest = manifest[manifest["rows"] >= math.ceil(SIZES[1] / (1 - HOLDOUT))]
    manifest = manifest[~dataset_groups(manifest).duplicated()]
    if args.only:
        manifest = manifest[manifest["name"].isin(args.only)]
    settings = json.dumps([args.time_limit, SIZES, QUANTILES, HOLDOUT, kb.counts(),
                           evaluation_version()])
    cache = Path(args.cache) if args.cache else Path(tempfile.gettempdir()) / (
        "automl_meta-cost-growth-" + hashlib.sha256(settings.encode()).hexdigest()[:12]
        + ".jsonl")
    start = time.perf_counter()
    records = measure(manifest, kb, args.time_limit, cache)
    if args.only:
        return 0
    table = predictions(records, kb, args.time_limit)
    summary = summarise(table)
    growth = growth_table(records)
    features = kb.metafeatures.drop_duplicates("dataset").set_index("dataset").iloc[0]
    kb_growth = {task: MetaLearnedSampler(metafeatures=features, task=task,
                                          time_left=lambda: 1.0)._costs.growth
                 for task in ("classification", "regression")}
    meta = {"command": " ".join(["python", "benchmarks/cost_growth.py",
                                 *(sys.argv[1:] if argv is None else argv)]),
            "datasets": int(manifest.shape[0]), "time_limit": args.time_limit,
            "seconds": time.perf_counter() - start,
            "trial_seconds": float(sum(r["seconds"] if r["status"] == "ok" else args.time_limit
                                       for r in records))}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cost_growth.json").write_text(json.dumps(
        {**meta, "summary": summary.to_dict("records"), "growth": growth.to_dict("records"),
         "records": records}, indent=1, default=float) + "\n")
    text = markdown(summary, growth, kb_growth, meta)
    (out / "cost_growth.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
