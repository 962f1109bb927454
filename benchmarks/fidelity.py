"""Fidelity of our synthesizers on UCI Adult, with and without DP (issue 15 item 5, first part).

Each synthesizer is fitted on sample_data/adult.csv (all rows, or --train-rows) and samples
--rows rows; they are scored against sample_data/adult_test.csv (rows never trained on):

- SDMetrics' QualityReport overall score (single columns and pairs), synthetic vs. test rows;
- TSTR: HistGradientBoosting trained on the synthetic rows predicts `income` on the test rows
  (ROC AUC), beside TRTR (the same classifier trained on the real training rows);
- fit and sample seconds, and the machine's load average (`os.getloadavg`) when each row ran.

    .venv/bin/python benchmarks/fidelity.py --quick   # dp_mst at ε = 1 and 10
    .venv/bin/python benchmarks/fidelity.py           # + dp_gaussian_copula and gaussian_copula, ε ∈ {1, 3, 10}

Not yet here (issue 15 item 5): corpus tables, the 3-way marginal TVD, the discriminator AUC,
and the anchors (plain SDV, dpmm MST, TabularARGN) in the same session.

Writes benchmarks/results/fidelity.json and fidelity.md (or --out-dir).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from privacy_utility import load_adult, quality, sdmetrics_metadata, tstr_auc  # noqa: E402

from synth_pipelines.core.request import PrivacySpec, SynthesizerSpec  # noqa: E402
from synth_pipelines.training.synthesizers import fit_model  # noqa: E402

MST_ITERATIONS = 1000  # dp_mst's `epochs`: mirror-descent iterations of the graphical-model fit


def run_one(name: str, epsilon: float | None, train, test, schema, rows: int) -> dict[str, Any]:
    from sdv.metadata import Metadata

    load = os.getloadavg()[0]
    spec = SynthesizerSpec(name=name, epochs=MST_ITERATIONS if name == "dp_mst" else 300)
    privacy = PrivacySpec(epsilon=epsilon) if epsilon is not None else None
    metadata = None if spec.is_dp else Metadata.detect_from_dataframes({"data": train})
    started = time.perf_counter()
    model = fit_model(train, metadata, spec, privacy, device="cpu", seed=0, schema=schema)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(rows, seed=1)
    sample_seconds = time.perf_counter() - started
    test_rows = test.sample(min(rows, len(test)), random_state=0)
    tstr = tstr_auc(synthetic, test, schema)
    record = model.training_record.get("privacy") or {}
    return {
        "model": name,
        "epsilon": epsilon,
        "epsilon_total": record.get("epsilon_total"),
        "quality_overall": round(quality(test_rows, synthetic, sdmetrics_metadata(schema)), 4),
        "tstr_auc": None if tstr is None else round(tstr, 4),
        "fit_seconds": round(fit_seconds, 1),
        "sample_seconds": round(sample_seconds, 2),
        "load_average_1m": round(load, 2),
    }


def real_rows_ceiling(train, test, schema, rows: int) -> dict[str, Any]:
    """The same scores for `rows` real training rows: what a perfect synthesizer would reach at this size."""
    sample = train.sample(min(rows, len(train)), random_state=1).reset_index(drop=True)
    test_rows = test.sample(min(rows, len(test)), random_state=0)
    tstr = tstr_auc(sample, test, schema)
    return {
        "model": "real rows (ceiling)",
        "epsilon": None,
        "epsilon_total": None,
        "quality_overall": round(quality(test_rows, sample, sdmetrics_metadata(schema)), 4),
        "tstr_auc": None if tstr is None else round(tstr, 4),
        "fit_seconds": 0.0,
        "sample_seconds": 0.0,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Fidelity on UCI Adult",
        "",
        f"Command: `{result['command']}`. Machine: {result['machine']}, {result['cpus']} CPUs; load average "
        f"(1 min) at the start: {result['load_average_start']}, per row below. Run {result['finished_at']}.",
        f"Fitted on {result['train_rows']} rows of adult.csv, {result['rows']} rows sampled, scored against "
        f"adult_test.csv. TRTR AUC {result['trtr_auc']}. dp_mst: {MST_ITERATIONS} mirror-descent iterations.",
        "",
        "| model | ε | ε spent | SDMetrics quality | TSTR AUC | fit s | sample s | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows_scored"]:
        spent = "" if row["epsilon_total"] is None else f"{row['epsilon_total']:.4f}"
        lines.append(
            f"| {row['model']} | {row['epsilon'] if row['epsilon'] is not None else 'no DP'} | {spent} | "
            f"{row['quality_overall']:.3f} | {row['tstr_auc']} | {row['fit_seconds']} | {row['sample_seconds']} | "
            f"{row['load_average_1m']} |"
        )
    lines += [
        "",
        "Targets (issue 15): without DP, the best synthesizer SDMetrics ≥ 0.975 and TSTR AUC ≥ 0.90, fit ≤ 600 s; "
        "DP at ε = 1 SDMetrics ≥ 0.95 and TSTR AUC ≥ 0.86; at ε = 10 ≥ 0.96 and ≥ 0.88. "
        "Fit seconds depend on the load shown (other jobs shared the 2 cores).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="dp_mst at ε = 1 and 10 only")
    parser.add_argument(
        "--non-dp",
        action="store_true",
        help="the non-DP models only (gaussian_copula, argn) and the real-rows ceiling; writes fidelity_non_dp.*",
    )
    parser.add_argument("--rows", type=int, default=5000, help="synthetic rows per model")
    parser.add_argument("--train-rows", type=int, default=None, help="training rows (default: all of adult.csv)")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    train, test, schema = load_adult(None)
    if args.train_rows:
        train = train.sample(min(args.train_rows, len(train)), random_state=0).reset_index(drop=True)
    if args.quick:
        runs: list[tuple[str, float | None]] = [("dp_mst", 1.0), ("dp_mst", 10.0)]
    elif args.non_dp:
        runs = [("real rows", None), ("gaussian_copula", None), ("argn", None)]
    else:
        runs = [(m, e) for m in ("dp_mst", "dp_gaussian_copula") for e in (1.0, 3.0, 10.0)]
        runs += [("gaussian_copula", None), ("argn", None)]
    load_start = round(os.getloadavg()[0], 2)
    scored = []
    for name, epsilon in runs:
        if name == "real rows":  # the ceiling at this sample size: training rows in place of synthetic ones
            scored.append(real_rows_ceiling(train, test, schema, args.rows))
        else:
            scored.append(run_one(name, epsilon, train, test, schema, args.rows))
        print(json.dumps(scored[-1]), flush=True)
    result = {
        "command": " ".join(shlex.quote(a) for a in ["benchmarks/fidelity.py", *(argv or sys.argv[1:])]),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_rows": len(train),
        "rows": args.rows,
        "trtr_auc": round(tstr_auc(train, test, schema), 4),
        "rows_scored": scored,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "fidelity_non_dp" if args.non_dp else "fidelity"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
