"""Privacy vs. utility on UCI Adult: each DP model against the same model trained without DP.

For dp_gaussian_copula, dp_tvae and dp_ctgan at each ε, and for each model's non-DP twin
(`fit_dp_model(..., private=False)`: the same code, public schema, encoding and loop, with no
noise and no clipping), it trains on sample_data/adult.csv and scores against
sample_data/adult_test.csv (rows never trained on):

- SDMetrics' QualityReport overall score, synthetic vs. the test rows;
- the membership-inference AUC of `synth_pipelines.quality.similarity.membership_inference`
  (members: training rows, non-members: test rows; the attack samples 5,000 of each);
- TSTR: a HistGradientBoosting classifier trained on the synthetic rows predicts `income` on
  the test rows (ROC AUC); TRTR is the same classifier trained on the real training rows;
- train seconds.

Each DP row is reported as a ratio to its twin (DP / twin) and as the gap (twin − DP): the
cost of privacy, not the difference between two implementations. It also times DP-SGD
against the same network and loop without DP (`train_neural(..., private=False)`).

    .venv/bin/python benchmarks/privacy_utility.py            # full run, under 20 minutes on 2 cores
    .venv/bin/python benchmarks/privacy_utility.py --quick    # smoke run, about a minute on 2 cores

Writes benchmarks/results/privacy_utility.json and privacy_utility.md (or --out-dir).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import platform
import secrets
import shlex
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth_pipelines.core.request import DatasetSpec, PrivacySpec, SynthesizerSpec, TableSchema  # noqa: E402
from synth_pipelines.data.loading import load_dataset  # noqa: E402
from synth_pipelines.privacy.budget import resolve_delta  # noqa: E402
from synth_pipelines.quality.similarity import membership_inference  # noqa: E402
from synth_pipelines.training.device import device_name, resolve_device  # noqa: E402
from synth_pipelines.training.dp import fit_dp_model  # noqa: E402

SCHEMA_PATH = ROOT / "requests" / "schemas" / "adult.json"
TARGET = "income"
POSITIVE = ">50K"
NEURAL = ("dp_tvae", "dp_ctgan")


def load_adult(rows: int | None) -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    """Train and test rows read the way the pipeline reads a CSV ("?" is missing), and Adult's public schema."""
    spec = DatasetSpec(uri="adult.csv")
    train = load_dataset(ROOT / "sample_data" / "adult.csv", spec)
    test = load_dataset(ROOT / "sample_data" / "adult_test.csv", spec)
    if list(test.columns) != list(train.columns):
        raise SystemExit("adult_test.csv does not have adult.csv's columns in the same order")
    # The original UCI test file writes the label as "<=50K." with a full stop; refuse it rather than score nonsense.
    labels = set(train[TARGET].dropna().unique()) | set(test[TARGET].dropna().unique())
    if labels != {"<=50K", POSITIVE}:
        raise SystemExit(f"unexpected {TARGET} labels in adult.csv / adult_test.csv: {sorted(labels)}")
    if rows is not None:
        train = train.sample(min(rows, len(train)), random_state=0).reset_index(drop=True)
        test = test.sample(min(rows, len(test)), random_state=0).reset_index(drop=True)
    schema = TableSchema.model_validate(json.loads(SCHEMA_PATH.read_text()))
    return train, test, schema


def sdmetrics_metadata(schema: TableSchema) -> dict[str, Any]:
    return {"columns": {name: {"sdtype": column["sdtype"]} for name, column in schema.columns.items()}}


def quality(test: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any]) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(test, synthetic[test.columns], metadata, verbose=False)
    return float(report.get_score())


def _features(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Predictors with categories fixed by the public schema, so every training set shares one encoding."""
    features = frame.drop(columns=[TARGET]).copy()
    for name, column in schema.columns.items():
        if name == TARGET or name not in features:
            continue
        if column["sdtype"] in ("categorical", "boolean"):
            values = schema.column_parameters(name).get("category_values") or sorted(
                features[name].dropna().astype(str).unique()
            )
            features[name] = pd.Categorical(features[name], categories=values)
        else:
            features[name] = pd.to_numeric(features[name], errors="coerce").astype(float)
    return features


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame, schema: TableSchema) -> float | None:
    """ROC AUC on `test` of a HistGradientBoosting classifier for `income` fitted on `train`; None for one class."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    labels = (train[TARGET] == POSITIVE).to_numpy()
    if labels.all() or not labels.any():
        return None
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(_features(train, schema), labels)
    return float(roc_auc_score(test[TARGET] == POSITIVE, model.predict_proba(_features(test, schema))[:, 1]))


def _neural_twin_supported() -> bool:
    """Whether `fit_dp_model(private=False)` reaches DP-SGD (train_dp_neural takes `private`)."""
    from synth_pipelines.training.dp.neural import train_dp_neural

    return "private" in inspect.signature(train_dp_neural).parameters


@contextlib.contextmanager
def _plain_dp_sgd():
    """Make `fit_dp_model`'s neural path train with `train_neural(private=False)` for the duration.

    Needed while `fit_dp_model(private=False)` turns off the marginals' noise but not DP-SGD's
    (train_dp_neural has no `private`); the twin must be the same loop with no noise and no
    clipping. train_dp_neural checks the accountant's ε, which a non-private run has none of.
    """
    from synth_pipelines.training.dp import neural

    original = neural.train_neural

    def plain(*args, **kwargs):
        kwargs["private"] = False
        network, record, curve = original(*args, **kwargs)
        record["epsilon"] = 0.0
        return network, record, curve

    neural.train_neural = plain
    try:
        yield
    finally:
        neural.train_neural = original


def fit(train: pd.DataFrame, schema: TableSchema, spec: SynthesizerSpec, epsilon: float, private: bool, device: str):
    privacy = PrivacySpec(epsilon=epsilon)
    patch = not private and spec.name in NEURAL and not _neural_twin_supported()
    with _plain_dp_sgd() if patch else contextlib.nullcontext():
        model = fit_dp_model(train, schema, spec, privacy, device=device, seed=0, private=private)
    noise = model.training_record["privacy"].get("noise_multiplier")
    if not private and noise:
        raise RuntimeError(f"the non-DP twin of {spec.name} trained with noise multiplier {noise}")
    return model


def evaluate(
    name: str,
    epsilon: float | None,
    train: pd.DataFrame,
    test: pd.DataFrame,
    schema: TableSchema,
    args: argparse.Namespace,
    device: str,
) -> dict[str, Any]:
    private = epsilon is not None
    epochs = args.epochs if name in NEURAL else 1
    spec = SynthesizerSpec(name=name, epochs=epochs, batch_size=args.batch_size)
    # The twin's ε only sizes the (unused) noise; any valid value fits the same model.
    model = fit(train, schema, spec, epsilon if private else 1.0, private, device)
    record = model.training_record
    started = time.perf_counter()
    synthetic = model.sample(len(train), seed=1)
    metadata = sdmetrics_metadata(schema)
    mia = membership_inference(train, test, synthetic, metadata, seed=0)
    row = {
        "model": name,
        "epsilon": epsilon,
        "private": private,
        "epsilon_total": record["privacy"]["epsilon_total"] if private else None,
        "delta": record["privacy"]["delta"] if private else None,
        "noise_multiplier": record["privacy"].get("noise_multiplier"),
        "quality_overall": round(quality(test, synthetic, metadata), 4),
        "mia_auc": None if mia is None else round(mia, 4),
        "tstr_auc": None,
        "train_seconds": record["train_seconds"],
        "epochs": record["epochs"],
    }
    if not args.no_tstr:
        tstr = tstr_auc(synthetic, test, schema)
        row["tstr_auc"] = None if tstr is None else round(tstr, 4)
    row["evaluate_seconds"] = round(time.perf_counter() - started, 2)
    return row


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each DP row against its model's twin: ratio DP / twin and gap twin − DP."""
    twins = {row["model"]: row for row in rows if not row["private"]}
    out = []
    for row in rows:
        twin = twins.get(row["model"])
        if not row["private"] or twin is None:
            continue
        entry: dict[str, Any] = {"model": row["model"], "epsilon": row["epsilon"]}
        for key in ("quality_overall", "tstr_auc"):
            dp_value, twin_value = row[key], twin[key]
            ok = dp_value is not None and twin_value is not None
            entry[f"{key}_ratio"] = round(dp_value / twin_value, 4) if ok and twin_value else None
            entry[f"{key}_gap"] = round(twin_value - dp_value, 4) if ok else None
        ok = row["mia_auc"] is not None and twin["mia_auc"] is not None
        entry["mia_auc_minus_twin"] = round(row["mia_auc"] - twin["mia_auc"], 4) if ok else None
        entry["train_seconds_ratio"] = (
            round(row["train_seconds"] / twin["train_seconds"], 3) if twin["train_seconds"] else None
        )
        out.append(entry)
    return out


def overhead(
    train: pd.DataFrame, schema: TableSchema, name: str, epochs: int, rounds: int, batch_size: int, device: str
) -> dict[str, Any]:
    """Seconds per epoch of the same network and loop with and without DP-SGD.

    Each round trains without DP and then with DP (book-keeping clipping, the same
    Poisson-sampled loop), so drift in a shared machine's speed falls on both sides; the
    first epoch of each training is dropped (warm-up). A round's figure is the median of its
    epochs; the result is the median over rounds, with the rounds' range as the spread. The
    row estimate is the exact count: a timing on public benchmark data, nothing is released.
    """
    from synth_pipelines.privacy.domain import fit_private_schema
    from synth_pipelines.training.dp.neural import encode, train_neural

    rng = np.random.default_rng(secrets.randbits(64))
    domain = fit_private_schema(schema, train, 1.0)
    encoded = encode(domain, train, rng)
    per_round: dict[str, list[float]] = {"plain": [], "dp": []}
    for _round in range(rounds):
        for side, private in (("plain", False), ("dp", True)):
            _, record, _ = train_neural(
                name, encoded, domain, epochs, batch_size, device, 3.0, 1e-7, float(len(encoded)), private=private
            )
            per_round[side].append(statistics.median(record["epoch_seconds"][1:] or record["epoch_seconds"]))
    plain, dp = statistics.median(per_round["plain"]), statistics.median(per_round["dp"])
    ratios = [d / p for d, p in zip(per_round["dp"], per_round["plain"], strict=True)]
    return {
        "plain_seconds_per_epoch": round(plain, 4),
        "plain_range": [round(min(per_round["plain"]), 4), round(max(per_round["plain"]), 4)],
        "dp_seconds_per_epoch": round(dp, 4),
        "dp_range": [round(min(per_round["dp"]), 4), round(max(per_round["dp"]), 4)],
        "ratio": round(dp / plain, 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "per_round": {side: [round(v, 4) for v in values] for side, values in per_round.items()},
        "epochs_per_training": epochs,
        "rounds": rounds,
        "clipping": "book-keeping (per-sample norms and clipped sums from one backward pass)",
        "batch_size": batch_size,
        "device": device,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 rows, 2 epochs, ε ∈ {1, 10}, one timing round")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--epochs", type=int, default=None, help="neural epochs (default 10, quick 2)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--train-rows", type=int, default=None, help="sample this many train and test rows")
    parser.add_argument("--synthesizers", default="dp_gaussian_copula,dp_tvae,dp_ctgan")
    parser.add_argument("--epsilons", default=None, help="comma-separated ε (default 1,3,10; quick 1,10)")
    parser.add_argument("--no-tstr", action="store_true", help="skip the TSTR classifier")
    parser.add_argument("--timing-rounds", type=int, default=None, help="DP-SGD timing rounds (default 3, quick 1)")
    parser.add_argument("--timing-epochs", type=int, default=None, help="epochs per timed training (default 5)")
    parser.add_argument("--note", default="", help="a note about this run, written into the .md and .json")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--render", type=Path, default=None, help="only rewrite the .md next to this results .json")
    args = parser.parse_args(argv)
    if args.render is not None:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return 0
    warnings.filterwarnings("ignore")

    run_started = time.perf_counter()
    device = resolve_device(args.device)
    args.epochs = args.epochs or (2 if args.quick else 10)
    epsilons = [float(e) for e in (args.epsilons or ("1,10" if args.quick else "1,3,10")).split(",")]
    rounds = args.timing_rounds or (1 if args.quick else 3)
    timing_epochs = args.timing_epochs or (3 if args.quick else 5)
    train, test, schema = load_adult(args.train_rows or (3000 if args.quick else None))
    names = args.synthesizers.split(",")

    rows = []
    for name in names:
        for epsilon in [None, *epsilons]:  # the twin first
            row = evaluate(name, epsilon, train, test, schema, args, device)
            rows.append(row)
            print(json.dumps(row), flush=True)
    trtr = None if args.no_tstr else round(tstr_auc(train, test, schema), 4)

    timing = {}
    for name in NEURAL:
        if name in names:
            timing[name] = overhead(train, schema, name, timing_epochs, rounds, args.batch_size, device)
            print(name, "DP-SGD timing", json.dumps(timing[name]), flush=True)

    delta, _ = resolve_delta(PrivacySpec(epsilon=1.0), schema.num_rows)
    result = {
        "rows": rows,
        "versus_twin": compare(rows),
        "trtr_auc": trtr,
        "dp_sgd_overhead": {name: t["ratio"] for name, t in timing.items()},
        "dp_sgd_timing": timing,
        "note": args.note,
        "what_was_run": {
            "command": shlex.join(
                ["python", "benchmarks/privacy_utility.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "quick": args.quick,
            "train_rows": len(train),
            "test_rows": len(test),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "epsilons": epsilons,
            "delta": f"{delta:g} (the default; "
            + ("the schema declares no num_rows" if schema.num_rows is None else "1/N^1.1 of the schema's num_rows")
            + ")",
            "schema": str(SCHEMA_PATH.relative_to(ROOT)),
            "twin": "fit_dp_model(private=False): same code, schema, encoding and loop; no noise, no clipping"
            + ("" if _neural_twin_supported() else " (neural twins: DP-SGD switched off by the benchmark, see source)"),
            "device": device,
            "device_name": device_name(device),
            "python": platform.python_version(),
            "torch": __import__("torch").__version__,
            "wall_seconds": round(time.perf_counter() - run_started, 1),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quality": "sdmetrics QualityReport overall, synthetic (as many rows as train) vs. adult_test.csv",
            "mia": "synth_pipelines.quality.similarity.membership_inference: members = adult.csv training rows, "
            "non-members = adult_test.csv rows (half of them the attack's reference), 5,000 scored per side",
            "tstr": None
            if args.no_tstr
            else "sklearn HistGradientBoostingClassifier (native categoricals from the schema, random_state 0) "
            f"predicts {TARGET} {POSITIVE!r}; ROC AUC on adult_test.csv",
            "fit_randomness": "noise, sampling and initialisation from `secrets` (one fit per row, not repeated)",
        },
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "privacy_utility_quick" if args.quick else "privacy_utility"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _command(run: dict[str, Any]) -> str:
    """The run's command with the note's text left out (the note is printed at the end)."""
    command = run["command"].strip()
    return command.split(" --note ")[0] + (" --note …" if " --note " in command else "")


def markdown(result: dict[str, Any]) -> str:
    run = result["what_was_run"]
    versus = {(v["model"], v["epsilon"]): v for v in result["versus_twin"]}
    lines = [
        "# Privacy vs. utility on UCI Adult: each DP model against its non-DP twin",
        "",
        f"Train on adult.csv ({run['train_rows']} rows), score against adult_test.csv ({run['test_rows']} rows, "
        f"never trained on). Neural models: {run['epochs']} epochs, batch {run['batch_size']}. "
        f"Public schema `{run['schema']}`; δ {run['delta']}. Device {run['device']} ({run['device_name']}); "
        f"the whole run took {run['wall_seconds'] / 60:.1f} min. Generated by `benchmarks/privacy_utility.py` "
        f"(`{_command(run)}`), finished {run['finished_at']}.",
        "",
        f"Twin: {run['twin']}. Ratio = DP / twin, gap = twin − DP. One fit per row (fits draw their noise "
        "from `secrets`, so a rerun moves each score a little).",
        "",
        "| model | ε | quality | ×twin | gap | MIA AUC | MIA − twin | TSTR AUC | ×twin | gap | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        v = versus.get((row["model"], row["epsilon"]), {})
        epsilon = "non-DP twin" if not row["private"] else f"{row['epsilon']:g}"
        lines.append(
            f"| {row['model']} | {epsilon} | {_num(row['quality_overall'])} | "
            f"{_num(v.get('quality_overall_ratio'))} | {_num(v.get('quality_overall_gap'))} | "
            f"{_num(row['mia_auc'])} | {_num(v.get('mia_auc_minus_twin'))} | {_num(row['tstr_auc'])} | "
            f"{_num(v.get('tstr_auc_ratio'))} | {_num(v.get('tstr_auc_gap'))} | {row['train_seconds']:.1f} |"
        )
    lines += [""]
    if result["trtr_auc"] is not None:
        lines += [f"TRTR (the same classifier trained on the real training rows): AUC {result['trtr_auc']:.3f}.", ""]
    lines += [
        f"Quality: {run['quality']}. MIA: {run['mia']}; 0.5 is chance. With all training rows and few epochs "
        "even the twins generalise, so an AUC near 0.5 here says the models do not memorise at this size, not "
        "that the attack is weak (its power on an overfit model: synth_pipelines_tests/privacy/test_attacks.py). "
        f"TSTR: {run['tstr'] or 'skipped'}.",
        "",
    ]
    if result["dp_sgd_timing"]:
        lines += [
            "DP-SGD cost: seconds per epoch, same network, loop and batch size, with and without DP "
            "(median over rounds of each round's median epoch; [min, max] over rounds):",
            "",
            "| model | plain s/epoch | DP-SGD s/epoch | ratio | rounds × epochs | device |",
            "|---|---|---|---|---|---|",
        ]
        for name, t in result["dp_sgd_timing"].items():
            lines.append(
                f"| {name} | {t['plain_seconds_per_epoch']:.3f} [{t['plain_range'][0]:.3f}, {t['plain_range'][1]:.3f}]"
                f" | {t['dp_seconds_per_epoch']:.3f} [{t['dp_range'][0]:.3f}, {t['dp_range'][1]:.3f}] | "
                f"{t['ratio']:.2f} [{t['ratio_range'][0]:.2f}, {t['ratio_range'][1]:.2f}] | "
                f"{t['rounds']} × {t['epochs_per_training']} | {t['device']} |"
            )
        lines += [""]
    if result["note"]:
        lines += [f"Note: {result['note']}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
