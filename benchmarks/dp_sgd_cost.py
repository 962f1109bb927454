"""DP-SGD's cost: seconds per epoch of dp_tvae and dp_ctgan with and without DP, the same network and loop.

Adult (sample_data/adult.csv read as the pipeline reads it, requests/schemas/adult.json), the
schema's encoding, batch size 500, the row count as the row estimate (a timing on public
data: nothing is released). Each round trains the plain loop (`train_neural(private=False)`:
the same Poisson batches and scaling, no clipping, no noise) and then the DP-SGD loop
(book-keeping clipping, secure-mode noise, accounting), so a shared machine's drift falls on
both; the first epoch of each training is dropped as warm-up. A round's figure is the median
of its epochs; the table gives the median over rounds, the rounds' range, and the ratio of
the medians. Runs once per torch thread count asked for (default: torch's own, then 1).

Usage: .venv/bin/python benchmarks/dp_sgd_cost.py [--rounds 3] [--epochs 4] [--threads 0 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET = 1.2
MODELS = ("dp_tvae", "dp_ctgan")


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def measure(name: str, encoded: np.ndarray, domain, rounds: int, epochs: int, batch_size: int) -> dict:
    from synth_pipelines.training.dp.neural import train_neural

    per_round: dict[str, list[float]] = {"plain": [], "dp": []}
    for _ in range(rounds):
        for side, private in (("plain", False), ("dp", True)):
            _, record, _ = train_neural(
                name, encoded, domain, epochs, batch_size, "cpu", 3.0, 1e-7, float(len(encoded)), private=private
            )
            per_round[side].append(statistics.median(record["epoch_seconds"][1:] or record["epoch_seconds"]))
    plain, dp = statistics.median(per_round["plain"]), statistics.median(per_round["dp"])
    ratios = [d / p for d, p in zip(per_round["dp"], per_round["plain"], strict=True)]
    return {
        "model": name,
        "plain_seconds_per_epoch": round(plain, 4),
        "plain_range": [round(min(per_round["plain"]), 4), round(max(per_round["plain"]), 4)],
        "dp_seconds_per_epoch": round(dp, 4),
        "dp_range": [round(min(per_round["dp"]), 4), round(max(per_round["dp"]), 4)],
        "ratio": round(dp / plain, 3),
        "round_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "per_round": {side: [round(v, 4) for v in values] for side, values in per_round.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed training (the first is dropped)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1], help="torch threads; 0 = torch's default")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    import secrets
    import warnings

    import torch
    from privacy_utility import load_adult

    from synth_pipelines.privacy.domain import fit_private_schema
    from synth_pipelines.training.dp.neural import encode

    warnings.filterwarnings("ignore")
    load_start = os.getloadavg()
    default_threads = torch.get_num_threads()
    train, _, schema = load_adult(None)
    domain = fit_private_schema(schema, train, 1.0)
    encoded = encode(domain, train, np.random.default_rng(secrets.randbits(64)))
    settings = []
    for threads in args.threads:
        torch.set_num_threads(threads or default_threads)
        rows = [measure(name, encoded, domain, args.rounds, args.epochs, args.batch_size) for name in MODELS]
        settings.append({"torch_threads": torch.get_num_threads(), "models": rows})
        for row in rows:
            print(f"threads {torch.get_num_threads()}: {row}", flush=True)
    result = {
        "command": "python benchmarks/dp_sgd_cost.py"
        + (f" --rounds {args.rounds}" if args.rounds != 3 else "")
        + (f" --epochs {args.epochs}" if args.epochs != 4 else "")
        + (f" --threads {' '.join(map(str, args.threads))}" if args.threads != [0, 1] else ""),
        "date": time.strftime("%Y-%m-%d"),
        "code_version": _code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "rows": int(len(encoded)),
        "encoded_width": int(encoded.shape[1]),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "epochs_per_training": args.epochs,
        "target_ratio": TARGET,
        "settings": settings,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dp_sgd_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "dp_sgd_cost.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = [
        "# DP-SGD cost: seconds per epoch with and without DP",
        "",
        f"`{result['command']}`, {result['date']}, code {result['code_version']}, {result['machine']['cpus']} CPUs "
        f"shared with other work (load average {result['machine']['load_avg_start'][0]:.1f} at the start, "
        f"{result['machine']['load_avg_end'][0]:.1f} at the end), torch {result['machine']['torch']} on the CPU. "
        f"Adult, {result['rows']:,} rows encoded to {result['encoded_width']} columns, batch {result['batch_size']}; "
        f"{result['rounds']} rounds × {result['epochs_per_training']} epochs (first dropped) per side.",
        "",
        "| model | torch threads | plain s/epoch, median [range] | DP-SGD s/epoch, median [range] | ratio "
        "| target | pass |",
        "|---|---:|---|---|---:|---:|---|",
    ]
    for setting in result["settings"]:
        for row in setting["models"]:
            lines.append(
                f"| {row['model']} | {setting['torch_threads']} | {row['plain_seconds_per_epoch']:.3f} "
                f"[{row['plain_range'][0]:.3f}, {row['plain_range'][1]:.3f}] | {row['dp_seconds_per_epoch']:.3f} "
                f"[{row['dp_range'][0]:.3f}, {row['dp_range'][1]:.3f}] | {row['ratio']:.2f} "
                f"| ≤ {result['target_ratio']} | {'yes' if row['ratio'] <= result['target_ratio'] else 'NO'} |"
            )
    lines += [
        "",
        "DP-SGD per step: one book-keeping backward pass (per-sample norms from the layers' output gradients, no "
        "within-sample pairs when each row is its own sample), one flat secure-mode noise draw for every parameter, "
        "prefetched for the next step in a background thread while this step computes.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
