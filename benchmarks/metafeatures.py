"""Meta-feature extraction: speed against PyMFE, agreement with it, and the whole corpus.

1. Speed: automl_meta's MetaFeatureExtractor and PyMFE 0.4.4 (``MFE().fit(X, y)
   .extract()``, its default groups) side by side in one process on credit_g, spambase and
   adult (PMLB), alternating, after one warm-up run each; medians over ``--repeats``. The
   machine may be shared, so the ratio PyMFE / ours is the figure to read, not seconds.
2. A synthetic 1,000,000 x 50 table, ours only: PyMFE needs minutes there.
3. Cross-check of the features both libraries compute, with the reason of every gap.
4. With ``--all``: extraction on every dataset of the manifest: failures (must be 0),
   NaN fraction (target: at most 5 % on average) and seconds per dataset.

    python benchmarks/metafeatures.py --repeats 3 --all --update-docs

writes benchmarks/results/metafeatures.json and benchmarks/results/metafeatures.md, and
with ``--update-docs`` refreshes the feature and results tables of docs/metafeatures.md.
PyMFE is an optional dependency (``pip install pymfe``); without it only our side runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

from automl_meta.data import read_manifest, read_table
from automl_meta.metafeatures import MetaFeatureExtractor, describe_features

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT.parent / "shared" / "datasets" / "manifest.csv"
SPEED_DATASETS = ("credit_g", "spambase", "adult")
CROSSCHECK_DATASETS = ("credit_g", "spambase")

# PyMFE name -> (our name, why the values can differ). "" means they should agree.
CROSSCHECK = {
    "nr_inst": ("n_instances", ""),
    "nr_attr": ("n_features", ""),
    "nr_class": ("n_classes", ""),
    "attr_to_inst": ("dimensionality", ""),
    "nr_bin": ("n_binary", ""),
    "class_ent": ("class_entropy", "both in bits"),
    "attr_ent.mean": ("attr_entropy_mean", "bins"),
    "mut_inf.mean": ("mutual_info_mean", "bins"),
    "joint_ent.mean": ("joint_entropy_mean", "bins"),
    "eq_num_attr": ("equivalent_n_attributes", "bins"),
    "ns_ratio": ("noise_signal_ratio", "bins"),
    "skewness.mean": ("skew_mean", "skew"),
    "kurtosis.mean": ("kurt_mean", "kurt"),
    "cor.mean": ("corr_abs_mean", "both: mean |Pearson r| over all pairs"),
    "can_cor.mean": ("can_cor_first", "binary target: a single canonical correlation"),
    "w_lambda": ("wilks_lambda", ""),
    "leaves": ("tree_n_leaves", "same full scikit-learn tree (ours on <= 5000 rows)"),
    "tree_depth.mean": ("tree_leaf_depth_mean", "PyMFE averages the depth of every node, "
                        "ours of the leaves only"),
    "class_conc.mean": ("class_conc_mean", "direction: PyMFE's is the Goodman-Kruskal tau of "
                        "the attribute given the class, ours of the class given the attribute"),
    "best_node.mean": ("lm_stump_acc", "PyMFE: 10-fold CV on all rows; ours: 3-fold on <= "
                       "2000 rows"),
    "naive_bayes.mean": ("lm_naive_bayes_acc", "10-fold vs 3-fold CV"),
    "linear_discr.mean": ("lm_lda_acc", "10-fold vs 3-fold CV; ours slightly shrunk"),
    "one_nn.mean": ("lm_one_nn_acc", "PyMFE's 1-NN uses unscaled features, ours "
                    "standardised ones; 10-fold vs 3-fold CV"),
    "random_node.mean": ("lm_random_node_acc", "a different random attribute"),
    "elite_nn.mean": ("lm_elite_nn_acc", "different attribute selection (ours: sqrt(p) "
                      "columns with the largest correlation ratio)"),
}

_NOTES = {
    "bins": "same equal-frequency discretisation into cube-root-of-n bins, but PyMFE's "
            "int(n ** (1/3)) rounds 1000 ** (1/3) down to 9 bins where ours takes 10; equal "
            "when the bin counts agree (16 on spambase)",
    "skew": "PyMFE's default (e1071 type 3) is m3/s^3 = ours * ((n-1)/n)^1.5; 'ours in "
            "PyMFE's convention' applies that",
    "kurt": "PyMFE's default (e1071 type 3) is (g2 + 3)(1 - 1/n)^2 - 3 for our excess "
            "kurtosis g2; 'ours in PyMFE's convention' applies that",
}


def load(manifest: pd.DataFrame, name: str) -> tuple[pd.DataFrame, pd.Series, str]:
    """A manifest dataset as read from its file; rows with a missing target dropped."""
    entry = manifest.loc[name]
    frame, _ = read_table(Path(entry["abspath"]))
    y = frame[entry["target"]]
    keep = y.notna().to_numpy()
    X = frame.drop(columns=[entry["target"]])[keep].reset_index(drop=True)
    return X, y[keep].reset_index(drop=True), entry["task"]


def synthetic(n: int = 1_000_000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """40 numeric (varied shapes, 1 % missing in 10) and 10 categorical columns."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(40):
        kind = i % 4
        values = (rng.normal(size=n), rng.lognormal(size=n), rng.integers(0, 5, n) * 1.0,
                  rng.uniform(size=n))[kind]
        if i < 10:
            values[rng.random(n) < 0.01] = np.nan
        columns[f"num{i}"] = values
    for i in range(10):
        levels = [f"v{j}" for j in range(2 + 3 * i)]
        columns[f"cat{i}"] = pd.Categorical.from_codes(rng.integers(0, len(levels), n), levels)
    X = pd.DataFrame(columns)
    signal = np.nan_to_num(X["num0"].to_numpy()) + (X["cat0"] == "v0").to_numpy()
    y = pd.Series(signal + rng.normal(size=n) > 0.5).astype(int)
    return X, y


def pymfe_extract(X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    from pymfe.mfe import MFE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mfe = MFE(random_state=0)
        mfe.fit(X.to_numpy(dtype=float), y.to_numpy())
        names, values = mfe.extract()
    return dict(zip(names, np.asarray(values, dtype=float), strict=True))


def _timed(func, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def speed(manifest: pd.DataFrame, repeats: int, with_pymfe: bool) -> list[dict]:
    extractor = MetaFeatureExtractor()
    records = []
    for name in SPEED_DATASETS:
        X, y, task = load(manifest, name)
        ours_t, theirs_t, theirs_1t = [], [], []
        extractor.extract(X, y, task)  # warm-up: first-call costs are not extraction
        if with_pymfe:
            pymfe_extract(X, y)
        for _ in range(repeats):
            seconds, ours = _timed(extractor.extract, X, y, task)
            ours_t.append(seconds)
            if with_pymfe:
                seconds, theirs = _timed(pymfe_extract, X, y)
                theirs_t.append(seconds)
                # Ours runs BLAS single-threaded; so does PyMFE here, for a like-for-like
                # figure on a busy machine where thread pools cost more than they save.
                with threadpool_limits(limits=1, user_api="blas"):
                    theirs_1t.append(_timed(pymfe_extract, X, y)[0])
        record = {
            "dataset": name, "rows": len(X), "columns": X.shape[1],
            "ours_seconds": float(np.median(ours_t)), "ours_features": len(ours),
            "ours_non_nan": int(ours.notna().sum()),
            "ours_group_seconds": dict(extractor.last_timings_),
        }
        if with_pymfe:
            values = np.array(list(theirs.values()))
            record.update({
                "pymfe_seconds": float(np.median(theirs_t)), "pymfe_features": len(values),
                "pymfe_non_nan": int(np.isfinite(values).sum()),
                "ratio": float(np.median(theirs_t) / np.median(ours_t)),
                "pymfe_single_thread_seconds": float(np.median(theirs_1t)),
                "ratio_single_thread": float(np.median(theirs_1t) / np.median(ours_t)),
            })
        records.append(record)
        print(json.dumps(record), flush=True)
    return records


def synthetic_speed(repeats: int) -> dict:
    X, y = synthetic()
    extractor = MetaFeatureExtractor()
    extractor.extract(X, y)
    times = []
    for _ in range(repeats):
        seconds, features = _timed(extractor.extract, X, y)
        times.append(seconds)
    record = {"rows": len(X), "columns": X.shape[1], "ours_seconds": float(np.median(times)),
              "ours_features": len(features), "ours_non_nan": int(features.notna().sum()),
              "ours_group_seconds": dict(extractor.last_timings_),
              "pymfe": "not run: PyMFE has no subsampling and needs minutes on 1e6 rows"}
    print(json.dumps(record), flush=True)
    return record


def crosscheck(manifest: pd.DataFrame) -> list[dict]:
    rows = []
    for name in CROSSCHECK_DATASETS:
        X, y, task = load(manifest, name)
        ours = MetaFeatureExtractor().extract(X, y, task)
        theirs = pymfe_extract(X, y)
        n = len(X)
        for pymfe_name, (our_name, note) in CROSSCHECK.items():
            value = float(ours[our_name])
            converted = value
            if note == "skew":
                converted = value * ((n - 1) / n) ** 1.5
            elif note == "kurt":
                converted = (value + 3.0) * (1.0 - 1.0 / n) ** 2 - 3.0
            reference = float(theirs[pymfe_name])
            rows.append({
                "dataset": name, "pymfe": pymfe_name, "pymfe_value": reference,
                "ours": our_name, "ours_value": value, "ours_in_pymfe_convention": converted,
                "relative_difference": abs(converted - reference) / max(abs(reference), 1e-12),
                "note": _NOTES.get(note, note),
            })
    return rows


def corpus(manifest: pd.DataFrame) -> dict:
    extractor = MetaFeatureExtractor()
    records, reasons = [], collections.Counter()
    for name in manifest.index:
        record = {"dataset": name, "task": manifest.loc[name, "task"]}
        try:
            X, y, task = load(manifest, name)
        except Exception as exc:  # noqa: BLE001 - a file we cannot read is reported apart
            record["load_error"] = f"{type(exc).__name__}: {exc}"
            records.append(record)
            continue
        record.update(rows=len(X), columns=X.shape[1])
        try:
            seconds, features = _timed(extractor.extract, X, y, task)
        except Exception as exc:  # noqa: BLE001 - a failure is what this part counts
            record["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        else:
            record.update(seconds=seconds, n_features=len(features),
                          nan_fraction=float(features.isna().mean()))
            reasons.update(f"{k}: {v}" for k, v in extractor.last_nan_reasons_.items())
        records.append(record)
        print(f"{name:55s} {record.get('seconds', float('nan')):7.3f}s "
              f"NaN {record.get('nan_fraction', float('nan')):.3f}", flush=True)
    done = [r for r in records if "seconds" in r]
    seconds = np.array([r["seconds"] for r in done])
    return {
        "datasets": len(records),
        "extracted": len(done),
        "failures": [r for r in records if "error" in r],
        "load_errors": [r for r in records if "load_error" in r],
        "mean_nan_fraction": float(np.mean([r["nan_fraction"] for r in done])),
        "max_nan_fraction": float(np.max([r["nan_fraction"] for r in done])),
        "seconds": {"mean": float(seconds.mean()), "median": float(np.median(seconds)),
                    "max": float(seconds.max()), "total": float(seconds.sum())},
        "slowest": sorted(done, key=lambda r: -r["seconds"])[:5],
        "top_nan_reasons": reasons.most_common(12),
        "records": records,
    }


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def results_markdown(results: dict) -> str:
    """The results tables (also pasted into docs/metafeatures.md by --update-docs)."""
    m = results["machine"]
    lines = [f"Produced by `{results['command']}` on {m['description']} (load average "
             f"{m['load_start']:.1f} at start, {m['load_end']:.1f} at the end: the machine was "
             "shared with other jobs).", ""]
    speed_rows = results["speed"]
    lines += ["| dataset | rows x columns | PyMFE s | PyMFE 1-thread BLAS s | ours s | "
              "PyMFE / ours | PyMFE 1-thread / ours | PyMFE features (non-NaN) | "
              "our features (non-NaN) |", "|---|---|---|---|---|---|---|---|---|"]
    nan = float("nan")
    for r in speed_rows:
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} x {r['columns']} | "
            f"{r.get('pymfe_seconds', nan):.3f} | {r.get('pymfe_single_thread_seconds', nan):.3f}"
            f" | {r['ours_seconds']:.3f} | {r.get('ratio', nan):.1f}x | "
            f"{r.get('ratio_single_thread', nan):.1f}x | {r.get('pymfe_features', '-')} "
            f"({r.get('pymfe_non_nan', '-')}) | {r['ours_features']} ({r['ours_non_nan']}) |")
    s = results["synthetic"]
    lines.append(f"| synthetic | {s['rows']:,} x {s['columns']} | not run | not run | "
                 f"{s['ours_seconds']:.3f} | - | - | - | {s['ours_features']} "
                 f"({s['ours_non_nan']}) |")
    lines += ["", "Medians over the repeats, after one warm-up run each. Our extractor runs "
              "BLAS single-threaded; \"PyMFE 1-thread BLAS\" limits PyMFE the same way (with "
              "its default threads PyMFE suffers more from the other jobs on the machine).",
              "PyMFE is not run on the synthetic table: it has no subsampling and needs "
              "minutes there. Ours subsamples to `max_rows` = 10,000 rows (fixed seed).", ""]
    if results.get("crosscheck"):
        lines += ["### Cross-check with PyMFE", "",
                  "| dataset | PyMFE | value | ours | value | ours in PyMFE's convention | "
                  "note |", "|---|---|---|---|---|---|---|"]
        for r in results["crosscheck"]:
            lines.append(f"| {r['dataset']} | `{r['pymfe']}` | {r['pymfe_value']:.4g} | "
                         f"`{r['ours']}` | {r['ours_value']:.4g} | "
                         f"{r['ours_in_pymfe_convention']:.4g} | {_cell(r['note'])} |")
        lines.append("")
    if results.get("corpus"):
        c = results["corpus"]
        lines += ["### Every dataset of the manifest", "",
                  f"- datasets: {c['datasets']}, extracted: {c['extracted']}, failures: "
                  f"{len(c['failures'])}, unreadable files: {len(c['load_errors'])}",
                  f"- NaN fraction: mean {c['mean_nan_fraction']:.2%}, "
                  f"max {c['max_nan_fraction']:.2%}",
                  f"- seconds per dataset: mean {c['seconds']['mean']:.3f}, median "
                  f"{c['seconds']['median']:.3f}, max {c['seconds']['max']:.3f} "
                  f"({c['slowest'][0]['dataset']}), total {c['seconds']['total']:.1f}",
                  "", "Most frequent NaN reasons (feature: reason, datasets):", ""]
        lines += [f"- {reason} ({count})" for reason, count in c["top_nan_reasons"]]
        lines += ["", "Slowest datasets: " + ", ".join(
            f"{r['dataset']} ({r['rows']:,} x {r['columns']}, {r['seconds']:.2f} s)"
            for r in c["slowest"]) + "."]
        lines.append("")
    return "\n".join(lines)


def feature_table() -> str:
    """Markdown table of every feature, from FEATURE_DESCRIPTIONS."""
    table = describe_features()
    lines = ["| feature | group | tasks | log scaled | description |", "|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| `{r.name}` | {r.group} | {r.tasks} | "
                     f"{'yes' if r.log_scaled else ''} | {_cell(r.description)} |")
    return "\n".join(lines)


def replace_section(text: str, marker: str, content: str) -> str:
    """Replace what lies between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def machine() -> dict:
    try:
        import pymfe

        pymfe_version = pymfe.__version__
    except ImportError:
        pymfe_version = None
    cpus = os.cpu_count()
    return {
        "description": f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}",
        "load_start": os.getloadavg()[0],
        "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
        "pymfe": pymfe_version,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=str(DEFAULT_MANIFEST))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all", action="store_true", help="also run every manifest dataset")
    parser.add_argument("--update-docs", action="store_true",
                        help="refresh the tables of docs/metafeatures.md")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    try:
        import pymfe  # noqa: F401
        with_pymfe = True
    except ImportError:
        print("pymfe is not installed: timing our extractor only", file=sys.stderr)
        with_pymfe = False
    manifest = read_manifest(args.datasets).set_index("name", drop=False)
    results = {
        "command": "python benchmarks/metafeatures.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "speed": speed(manifest, args.repeats, with_pymfe),
        "synthetic": synthetic_speed(args.repeats),
        "crosscheck": crosscheck(manifest) if with_pymfe else [],
    }
    if args.all:
        results["corpus"] = corpus(manifest)
    results["machine"]["load_end"] = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metafeatures.json").write_text(json.dumps(results, indent=1) + "\n")
    markdown = results_markdown(results)
    (out / "metafeatures.md").write_text("# Meta-feature extraction benchmark\n\n" + markdown)
    if args.update_docs:
        docs = ROOT / "docs" / "metafeatures.md"
        text = replace_section(docs.read_text(), "features", feature_table())
        docs.write_text(replace_section(text, "results", markdown))
    failures = len(results.get("corpus", {}).get("failures", []))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
