"""Privacy vs. utility on UCI Adult: quality, membership-inference AUC and cost per synthesizer and ε.

Trains on sample_data/adult.csv, evaluates against sample_data/adult_test.csv (rows never
trained on): SDMetrics' QualityReport overall score, the DCR membership-inference AUC
(members = training rows, non-members = test rows), train seconds and epochs. Also times
DP-SGD against the same model and loop without DP at the same batch size (`dp_sgd_overhead`).

    .venv/bin/python benchmarks/privacy_utility.py            # full run (use many cores or a GPU)
    .venv/bin/python benchmarks/privacy_utility.py --quick    # smoke run, a minute on two cores

Writes benchmarks/results/privacy_utility.json and privacy_utility.md (or --out-dir).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth_pipelines.privacy.attacks import membership_inference_auc  # noqa: E402
from synth_pipelines.request import PrivacySpec, SynthesizerSpec  # noqa: E402
from synth_pipelines.synthesizers import device_name, fit_model, resolve_device  # noqa: E402

NON_DP_TWIN = {"dp_gaussian_copula": "gaussian_copula", "dp_tvae": "tvae", "dp_ctgan": "ctgan"}


def _sdmetrics_metadata(metadata) -> dict:
    columns = metadata.tables["data"].to_dict()["columns"]
    return {"columns": {name: {"sdtype": spec["sdtype"]} for name, spec in columns.items()}}


def _quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, synthetic, metadata, verbose=False)
    return float(report.get_score())


def _overhead(train: pd.DataFrame, metadata, name: str, epochs: int, batch_size: int, device: str) -> dict:
    """Seconds per epoch of the same network and loop with and without DP-SGD.

    Two rounds, each training without DP and with DP (book-keeping clipping, the same
    Poisson-sampled loop), so that drift in a shared machine's speed falls on both sides;
    the first epoch of each training is dropped (warm-up). The row estimate is the exact
    count here: a timing on public benchmark data, nothing is released.
    """
    import secrets

    from synth_pipelines.privacy import _preprocess
    from synth_pipelines.privacy.neural import encode, train_neural

    rng = np.random.default_rng(secrets.randbits(64))
    schema, _, _ = _preprocess(train, metadata, PrivacySpec(epsilon=1.0), 0.2, 1e-6, rng)
    encoded = encode(schema, train, rng)
    sides = {"plain": False, "dp": True}
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    for _round in range(2):
        for side, private in sides.items():
            _, record, _ = train_neural(
                name, encoded, schema, epochs, batch_size, device, 3.0, 1e-6, float(len(encoded)), private=private
            )
            seconds[side] += record["epoch_seconds"][1:] or record["epoch_seconds"]
    timings = {side: statistics.median(values) for side, values in seconds.items()}
    return {
        "plain_seconds_per_epoch": round(timings["plain"], 4),
        "dp_seconds_per_epoch": round(timings["dp"], 4),
        "ratio": round(timings["dp"] / timings["plain"], 3),
        "epochs_timed": epochs,
        "rounds": 2,
        "clipping": "book-keeping (per-sample norms and clipped sums from one backward pass)",
        "batch_size": batch_size,
        "device": device,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 rows, 2 epochs, ε ∈ {1, 10}")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--epochs", type=int, default=None, help="neural epochs (default 30, quick 2)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--synthesizers", default="dp_gaussian_copula,dp_tvae,dp_ctgan")
    parser.add_argument("--epsilons", default=None, help="comma-separated ε; 'none' is the non-DP twin")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    from sdv.metadata import Metadata

    device = resolve_device(args.device)
    epochs = args.epochs or (2 if args.quick else 30)
    epsilons = args.epsilons or ("1,10,none" if args.quick else "1,3,10,none")
    epsilon_grid = [None if e.strip() == "none" else float(e) for e in epsilons.split(",")]
    train = pd.read_csv(ROOT / "sample_data" / "adult.csv", nrows=3000 if args.quick else None)
    test = pd.read_csv(ROOT / "sample_data" / "adult_test.csv", nrows=3000 if args.quick else None)
    test = test[train.columns]
    metadata = Metadata.detect_from_dataframes({"data": train})
    sdm_metadata = _sdmetrics_metadata(metadata)

    rows = []
    for name in args.synthesizers.split(","):
        for epsilon in epsilon_grid:
            spec_name = name if epsilon is not None else NON_DP_TWIN[name]
            spec = SynthesizerSpec(name=spec_name, epochs=epochs, batch_size=args.batch_size)
            privacy = PrivacySpec(epsilon=epsilon) if epsilon is not None else None
            model = fit_model(train, metadata, spec, privacy, device=device, seed=0)
            synthetic = model.sample(len(train), seed=1)
            record = model.training_record
            row = {
                "synthesizer": name,
                "model": spec_name,
                "epsilon": epsilon,
                "epsilon_total": record["privacy"]["epsilon_total"] if record["privacy"] else None,
                "quality_overall": round(_quality(test, synthetic, sdm_metadata), 4),
                "mia_auc": round(membership_inference_auc(train, test, synthetic, sdm_metadata, seed=0), 4),
                "train_seconds": record["train_seconds"],
                "epochs": record["epochs"],
                "device": f"{device} ({device_name(device)})",
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    overhead = {}
    for name in ("dp_tvae", "dp_ctgan"):
        if name in args.synthesizers.split(","):
            overhead[name] = _overhead(train, metadata, name, 3 if args.quick else 5, args.batch_size, device)
            print(name, "overhead", json.dumps(overhead[name]), flush=True)

    result = {
        "rows": rows,
        "dp_sgd_overhead": {name: o["ratio"] for name, o in overhead.items()},
        "dp_sgd_timing": overhead,
        "what_was_run": {
            "command": "python benchmarks/privacy_utility.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "quick": args.quick,
            "train_rows": len(train),
            "test_rows": len(test),
            "epochs": epochs,
            "batch_size": args.batch_size,
            "device": device,
            "device_name": device_name(device),
            "python": platform.python_version(),
            "torch": __import__("torch").__version__,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quality": "sdmetrics QualityReport overall, synthetic vs. adult_test.csv",
            "mia": "distance to closest synthetic record, members = adult.csv rows, non-members = adult_test.csv "
            "rows, 5,000 of each",
            "delta": "default 1/n^1.1",
        },
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "privacy_utility_quick" if args.quick else "privacy_utility"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def _markdown(result: dict) -> str:
    lines = [
        "# Privacy vs. utility on UCI Adult",
        "",
        f"Train adult.csv ({result['what_was_run']['train_rows']} rows), evaluate against adult_test.csv; "
        f"{result['what_was_run']['epochs']} epochs, batch {result['what_was_run']['batch_size']}, "
        f"device {result['what_was_run']['device_name']}. Generated by `benchmarks/privacy_utility.py`.",
        "",
        "| synthesizer | ε | quality overall | MIA AUC | train s | epochs | device |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        epsilon = "non-DP" if row["epsilon"] is None else f"{row['epsilon']:g}"
        lines.append(
            f"| {row['model']} | {epsilon} | {row['quality_overall']:.3f} | {row['mia_auc']:.3f} | "
            f"{row['train_seconds']:.1f} | {row['epochs'] or '-'} | {row['device']} |"
        )
    lines += ["", "DP-SGD cost (seconds per epoch, same network, loop and batch size):", ""]
    lines += [
        "| model | plain s/epoch | DP-SGD s/epoch | ratio | device |",
        "|---|---|---|---|---|",
    ]
    for name, timing in result["dp_sgd_timing"].items():
        lines.append(
            f"| {name} | {timing['plain_seconds_per_epoch']:.3f} | {timing['dp_seconds_per_epoch']:.3f} | "
            f"{timing['ratio']:.2f} | {timing['device']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
