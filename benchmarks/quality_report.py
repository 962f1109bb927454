"""Benchmark the quality report's sampling plan: time at 10k/100k/1M synthetic rows vs the same metrics on all rows.

Adult, GaussianCopula (SDV 2.0) fitted on 80% of sample_data/adult.csv; the other rows
(at most 5,000) are the holdout. For each size the whole report (`build_quality_report`:
read, quality, diagnostic, DCR baseline + overfitting, new-row synthesis, membership
inference, TSTR on `income`, plots, HTML) is timed, then the same metrics under the
all-rows plan (every synthetic row in every metric, the same code) plus the same plots and
files, in the same process. The only bound on the all-rows side: the DCR random baseline draws
min(rows, 100,000) random rows instead of one per synthetic row (see `all_rows_plan`).

Run: .venv/bin/python benchmarks/quality_report.py  (writes benchmarks/results/quality_report.{json,md})
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
SIZES = (10_000, 100_000, 1_000_000)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    started = time.perf_counter()
    train, holdout, synthetic, metadata = _fit_and_sample(max(args.sizes), args.seed)
    print(f"fitted and sampled {len(synthetic):,} rows in {time.perf_counter() - started:.1f} s", flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sorted(args.sizes):
            export = Path(tmp) / f"synthetic_{size}.parquet"
            synthetic.head(size).to_parquet(export)

            begin = time.perf_counter()
            sampled = build_quality_report(train, holdout, export, metadata, SPEC, Path(tmp) / f"r{size}", args.seed)
            sampled_seconds = time.perf_counter() - begin
            print(f"{size:>9,} sampled report {sampled_seconds:.1f} s {sampled.scores['seconds']}", flush=True)

            begin = time.perf_counter()
            frame = read_synthetic(export)
            plan = all_rows_plan(len(frame), len(train))
            full, details = compute_scores(train, holdout, frame, metadata, SPEC, plan, args.seed)
            full = write_report(train, full, details, SPEC, Path(tmp) / f"f{size}", begin).scores
            full_seconds = time.perf_counter() - begin
            print(f"{size:>9,} all rows       {full_seconds:.1f} s {full['seconds']}", flush=True)

            ours, reference = _flat(sampled.scores), _flat(full)
            diffs = {
                key: abs(ours[key] - reference[key])
                for key in COMPARED
                if ours[key] is not None and reference[key] is not None
            }
            rows.append(
                {
                    "synthetic_rows": size,
                    "seconds_sampled": round(sampled_seconds, 2),
                    "seconds_all_rows": round(full_seconds, 2),
                    "speedup": round(full_seconds / sampled_seconds, 2),
                    "max_abs_score_diff": max(diffs.values()),
                    "worst_score": max(diffs, key=diffs.get),
                    "scores_sampled": ours,
                    "scores_all_rows": reference,
                    "abs_diff": diffs,
                    "standard_errors_sampled": sampled.scores["standard_errors"],
                    "stage_seconds_sampled": sampled.scores["seconds"],
                    "stage_seconds_all_rows": full["seconds"],
                    "rows_scored_sampled": {
                        "fidelity": sampled.scores["fidelity_rows"],
                        "dcr_baseline": sampled.scores["dcr_rows"],
                        "dcr_overfitting": sampled.scores.get("dcr_overfitting_rows"),
                        "new_row_synthesis": sampled.scores["new_row_rows"],
                        "tstr": f"{sampled.scores['tstr']['synthetic_fits']} x "
                        f"{sampled.scores['tstr']['synthetic_rows_per_fit']}",
                    },
                    "all_rows_dcr_random_baseline_rows": full["dcr_random_baseline_rows"],
                    "mia_auc_sampled": sampled.scores["mia_auc"],
                }
            )

    by_size = {row["synthetic_rows"]: row for row in rows}
    largest = by_size[max(by_size)]
    result = {
        "dataset": "adult (sample_data/adult.csv), 80% train / holdout of the rest (max 5,000)",
        "synthesizer": "sdv GaussianCopulaSynthesizer, default settings",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_at_end": os.getloadavg()},
        "seconds_1m": by_size.get(1_000_000, largest)["seconds_sampled"],
        "speedup_vs_full_1m": by_size.get(1_000_000, largest)["speedup"],
        "max_abs_score_diff": max(row["max_abs_score_diff"] for row in rows),
        "targets": {"seconds_1m": 60, "speedup_vs_full_1m": 5, "max_abs_score_diff": 0.01},
        "all_rows_bound": "DCR random baseline capped at min(rows, 100,000) random rows; everything else all rows",
        "sizes": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality_report.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    lines = [
        "# Quality report: sampled vs all rows (Adult, gaussian_copula)",
        "",
        "| synthetic rows | sampled report (s) | all rows (s) | speedup | max abs score diff | worst score |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['synthetic_rows']:,} | {r['seconds_sampled']:.1f} | {r['seconds_all_rows']:.1f} | {r['speedup']:.1f}× "
        f"| {r['max_abs_score_diff']:.4f} | {r['worst_score']} |"
        for r in rows
    ]
    lines += [
        "",
        f"Targets: 1M-row report ≤ 60 s (measured {result['seconds_1m']:.1f} s), ≥ 5× faster than all rows "
        f"(measured {result['speedup_vs_full_1m']:.1f}×), every score within 0.01 (measured max "
        f"{result['max_abs_score_diff']:.4f}).",
        f"Machine: {os.cpu_count()} CPUs shared with other work; load average at the end {os.getloadavg()[0]:.1f}.",
        f"All-rows bound: {result['all_rows_bound']}.",
        "Per-score values, differences, measured standard errors and per-stage seconds: quality_report.json.",
        "Command: `.venv/bin/python benchmarks/quality_report.py`",
    ]
    (args.out / "quality_report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
