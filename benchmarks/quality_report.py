"""Benchmark the whole quality report at 50,000 and 1,000,000 synthetic rows: repeated timings, scores vs all rows.

Adult, GaussianCopula (SDV 2.0) fitted on 80% of sample_data/adult.csv; the other rows (at
most 5,000) are the holdout. Per size the whole report (`build_quality_report`: read,
quality, diagnostic, DCR baseline + overfitting, new-row synthesis, membership inference,
TSTR on `income`, plots, HTML) runs `--repeats` times in this process; each run's wall and
CPU seconds are kept, and the table gives their median and spread (min-max). Once per size
the same metrics run under the all-rows plan (every synthetic row in every metric, the same
code, no replicates), and every sampled score is compared with that all-rows value, beside
the standard error the report itself states for it (measured on the sample, against the
all-rows value). The only bound on the all-rows side: the DCR random baseline draws min(rows,
100,000) random rows; the membership attack samples at most 50,000 synthetic rows in both.

Run: .venv/bin/python benchmarks/quality_report.py  (writes benchmarks/results/quality_report.{json,md})
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from synth_pipelines.core.request import QualitySpec
from synth_pipelines.quality import build_quality_report
from synth_pipelines.quality.report import compute_scores, read_synthetic, write_report
from synth_pipelines.quality.sampling import all_rows_plan

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (50_000, 1_000_000)
TARGET_SECONDS = {50_000: 5.0, 1_000_000: 15.0}
TARGET_DIFF = 0.01
# The scores compared with their all-rows values (each in [0, 1]).
COMPARED = (
    "overall",
    "column_shapes",
    "column_pair_trends",
    "diagnostic",
    "data_validity",
    "data_structure",
    "dcr_baseline_protection",
    "dcr_overfitting_protection",
    "new_row_synthesis",
    "mia_auc",
    "tstr_synthetic_score",
    "tstr_ratio",
)
SPEC = QualitySpec(target_column="income")


def _flat(scores: dict) -> dict[str, float | None]:
    flat = {key: scores.get(key) for key in COMPARED}
    flat["tstr_synthetic_score"] = (scores.get("tstr") or {}).get("synthetic_score")
    return flat


def _fit_and_sample(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    adult = pd.read_csv(ROOT / "sample_data" / "adult.csv")
    train = adult.sample(frac=0.8, random_state=seed)
    holdout = adult.drop(train.index).head(5_000)
    metadata = Metadata.detect_from_dataframes({"data": adult})
    synthesizer = GaussianCopulaSynthesizer(metadata)
    synthesizer.fit({"data": train})
    synthetic = synthesizer.sample(rows)["data"]
    return train, holdout, synthetic, metadata.to_dict()["tables"]["data"]


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _size_row(train, holdout, export: Path, metadata, seed: int, repeats: int, tmp: Path) -> dict:
    size = len(read_synthetic(export))
    wall, cpu, runs = [], [], []
    for repeat in range(repeats):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        sampled = build_quality_report(train, holdout, export, metadata, SPEC, tmp / f"r{size}-{repeat}", seed)
        wall.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
        runs.append(sampled.scores)
        print(f"{size:>9,} sampled report {wall[-1]:.2f} s (cpu {cpu[-1]:.2f}) {sampled.scores['seconds']}", flush=True)
    median_run = runs[sorted(range(repeats), key=lambda i: wall[i])[repeats // 2]]

    begin = time.perf_counter()
    frame = read_synthetic(export)
    plan = all_rows_plan(len(frame), len(train))
    full, details = compute_scores(train, holdout, frame, metadata, SPEC, plan, seed)
    full = write_report(train, full, details, SPEC, tmp / f"f{size}", begin).scores
    full_seconds = time.perf_counter() - begin
    print(f"{size:>9,} all rows       {full_seconds:.1f} s {full['seconds']}", flush=True)

    ours, reference = _flat(median_run), _flat(full)
    diffs = {k: abs(ours[k] - reference[k]) for k in COMPARED if ours[k] is not None and reference[k] is not None}
    errors = median_run["standard_errors"]
    stated = {k: errors.get(k) for k in COMPARED}
    return {
        "synthetic_rows": size,
        "seconds_sampled": _spread(wall),
        "cpu_seconds_sampled": _spread(cpu),
        "seconds_all_rows": round(full_seconds, 2),
        "target_seconds": TARGET_SECONDS.get(size),
        "max_abs_score_diff": max(diffs.values()),
        "worst_score": max(diffs, key=diffs.get),
        "scores_sampled": ours,
        "scores_all_rows": reference,
        "abs_diff": diffs,
        "standard_errors_stated": stated,
        "diff_in_stated_errors": {
            k: (diffs[k] / stated[k]) if stated.get(k) else None for k in diffs if stated.get(k) is not None
        },
        "stage_seconds_sampled_median_run": median_run["seconds"],
        "stage_seconds_all_rows": full["seconds"],
        "rows_scored_sampled": {
            "fidelity": median_run["fidelity_rows"],
            "dcr_baseline": median_run["dcr_rows"],
            "dcr_random_baseline": median_run["dcr_random_baseline_rows"],
            "dcr_overfitting": median_run.get("dcr_overfitting_rows"),
            "new_row_synthesis": median_run["new_row_rows"],
            "mia": median_run.get("mia_scored_rows"),
            "tstr": f"{median_run['tstr']['synthetic_fits']} x {median_run['tstr']['synthetic_rows_per_fit']}",
        },
    }


def _markdown(result: dict) -> str:
    rows = result["sizes"]
    lines = [
        "# Quality report: time and scores vs all rows (Adult, gaussian_copula)",
        "",
        f"Command: `{result['command']}`; {result['repeats']} runs per size in one process; "
        f"code {result['code_version']}; {result['machine']['cpus']} CPUs shared with other work "
        f"(load average {result['machine']['load_avg_start'][0]:.1f} at the start, "
        f"{result['machine']['load_avg_end'][0]:.1f} at the end).",
        "",
        "| synthetic rows | report s, median (min-max) | CPU s, median | target | pass | max abs diff vs all rows "
        "| worst score | all-rows s |",
        "|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for r in rows:
        t = r["seconds_sampled"]
        passed = t["median"] <= r["target_seconds"] and r["max_abs_score_diff"] <= TARGET_DIFF
        lines.append(
            f"| {r['synthetic_rows']:,} | {t['median']:.2f} ({t['min']:.2f}-{t['max']:.2f}) "
            f"| {r['cpu_seconds_sampled']['median']:.2f} | ≤ {r['target_seconds']:.0f} s, diff ≤ {TARGET_DIFF} "
            f"| {'yes' if passed else 'NO'} | {r['max_abs_score_diff']:.4f} | {r['worst_score']} "
            f"| {r['seconds_all_rows']:.0f} |"
        )
    lines += [
        "",
        "Per score (largest size): sampled value, all-rows value, |diff|, the standard error the report states.",
        "",
    ]
    largest = rows[-1]
    lines += ["| score | sampled | all rows | abs diff | stated SE |", "|---|---:|---:|---:|---:|"]
    for key in COMPARED:
        ours, ref = largest["scores_sampled"].get(key), largest["scores_all_rows"].get(key)
        if ours is None or ref is None:
            continue
        se = largest["standard_errors_stated"].get(key)
        se_text = f"{se:.4f}" if isinstance(se, float) else "n/a"
        lines.append(f"| {key} | {ours:.4f} | {ref:.4f} | {abs(ours - ref):.4f} | {se_text} |")
    lines += [
        "",
        f"All-rows bound: {result['all_rows_bound']}.",
        "Stage seconds, rows scored and every size's per-score table: quality_report.json.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    load_start = os.getloadavg()

    started = time.perf_counter()
    train, holdout, synthetic, metadata = _fit_and_sample(max(args.sizes), args.seed)
    print(f"fitted and sampled {len(synthetic):,} rows in {time.perf_counter() - started:.1f} s", flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sorted(args.sizes):
            export = Path(tmp) / f"synthetic_{size}.parquet"
            synthetic.head(size).to_parquet(export)
            rows.append(_size_row(train, holdout, export, metadata, args.seed, args.repeats, Path(tmp)))

    result = {
        "command": "python benchmarks/quality_report.py"
        + (f" --sizes {' '.join(map(str, args.sizes))}" if tuple(args.sizes) != SIZES else "")
        + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
        "dataset": "adult (sample_data/adult.csv), 80% train / holdout of the rest (max 5,000)",
        "synthesizer": "sdv GaussianCopulaSynthesizer, default settings",
        "code_version": _code_version(),
        "repeats": args.repeats,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "targets": {"seconds": TARGET_SECONDS, "max_abs_score_diff": TARGET_DIFF},
        "all_rows_bound": "DCR random baseline capped at min(rows, 100,000) random rows; the membership attack "
        "samples at most 50,000 synthetic rows (its definition); everything else all rows",
        "sizes": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality_report.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    markdown = _markdown(result)
    (args.out / "quality_report.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
