"""1,000 requests dropped at once into the production-shaped service, repeated (issue 18 item 1).

    python benchmarks/service_load.py                 # 3 rounds of 1,000; writes results/service_load.{json,md}
    python benchmarks/service_load.py --rounds 1 --files 300
    python benchmarks/service_load.py --rounds 1 --stock-storage   # dagster-postgres' own storage (no pool)

One service for the session: PostgreSQL, dagster-webserver and dagster-daemon on the repository's
production dagster.yaml (queued run coordinator: 8 runs at once, 3 per requester). Each round drops
`--files` requests in one go (synth_pipelines_tests/service/load.py: 20% valid from six requesters,
one flooding, 10% exact duplicates, 5% reused ids, 3% under someone else's prefix, 5% standing, the
rest invalid in twelve ways), waits until intake has settled, stops the runs it started and counts
what happened to every file. The baseline, run in the same session on the same files: intake
(`process_incoming`) in one process on a local store, without Dagster, PostgreSQL or a sensor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
# dagster.yaml's pooled storage, replaced by the stock `postgres:` key for --stock-storage (same postgres_db block).
STOCK_FROM = "  custom:\n    module: synth_pipelines.instance_storage\n    class: PooledPostgresStorage\n    config:\n"


def in_process_rate(files: int, frame) -> float:
    """Requests per minute through `process_incoming` alone (batches of 100, as the sensor takes them)."""
    from synth_pipelines.intake.requests import LocalRequestStore, process_incoming
    from synth_pipelines_tests.service.load import make_load

    root = Path(tempfile.mkdtemp(prefix="load-baseline-"))
    data = root / "data"
    data.mkdir()
    frame.to_csv(data / "adult_small.csv", index=False)
    store = LocalRequestStore(root / "store")
    for d in make_load(files, "base"):
        store.put_incoming(d.name, d.data)
    started = time.monotonic()
    while store.incoming():
        process_incoming(store, data, limit=100)
    return files / (time.monotonic() - started) * 60


def lost_and_duplicated(seen: dict, drops) -> tuple[int, int]:
    """Files with no outcome (not accepted, standing or rejected), and request ids with more than one run."""
    accounted = 0
    for d in drops:
        if d.kind == "valid":
            accounted += d.request_id in seen["accepted"] and seen["runs"].get(d.request_id) == 1
        elif d.kind == "standing":
            accounted += d.request_id in seen["standing"]
        else:
            accounted += seen["rejections"].get(d.name) == 1
    return len(drops) - accounted, sum(1 for n in seen["runs"].values() if n > 1)


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    median = statistics.median(values)
    return f"{median:.1f} ({min(values):.1f}–{max(values):.1f})" if len(values) > 1 else f"{median:.1f}"


def markdown(result: dict) -> str:
    rounds = result["rounds"]
    rpm = [r["figures"]["requests_per_minute"] for r in rounds]
    base = result["baseline_requests_per_minute"]
    lines = [
        "# Service load: requests dropped at once into the production-shaped service",
        "",
        f"`{result['command']}` on {result['machine']}; {result['date']}; code {result['code']}; "
        f"instance storage: {result.get('storage', 'PooledPostgresStorage')}.",
        "",
        "PostgreSQL + dagster-webserver + dagster-daemon, the repository's dagster.yaml (8 runs at once, 3 per "
        "requester); each round drops the files in one rename pass and waits until intake settles, then stops "
        "the runs it started. Median (min–max) over the rounds.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| rounds × files | {len(rounds)} × {result['files']:,} |",
        f"| requests per minute through intake (service) | {spread(rpm)} |",
        f"| requests per minute, `process_incoming` in one process (baseline, same files) | {spread(base)} |",
        f"| service / baseline | {statistics.median(rpm) / statistics.median(base):.3f} |",
        f"| seconds from the drop to an empty incoming/ | {spread([r['figures']['intake_seconds'] for r in rounds])} |",
        f"| seconds from the drop to every run created | "
        f"{spread([r['figures']['runs_created_seconds'] for r in rounds])} |",
        f"| intake tick seconds, median | {spread([r['figures']['tick_seconds_median'] for r in rounds])} |",
        "| intake tick seconds (evaluation + submitting its runs), max | "
        f"{spread([r['figures']['tick_seconds_max'] for r in rounds])} |",
        f"| failed ticks | {sum(r['figures']['failed_ticks'] for r in rounds)} |",
        f"| queue depth, max | {spread([r['figures']['max_queue_depth'] for r in rounds])} |",
        f"| runs in progress, max (limit 8) | {max(r['figures']['max_in_progress'] for r in rounds)} |",
        f"| runs in progress for one requester, max (limit 3) | "
        f"{max(r['figures']['max_in_progress_one_requester'] for r in rounds)} |",
        f"| files accepted / standing / rejected per round | {rounds[0]['accepted']} / {rounds[0]['standing']} / "
        f"{rounds[0]['rejected']} |",
        f"| requests lost | {sum(r['lost'] for r in rounds)} |",
        f"| runs duplicated | {sum(r['duplicated'] for r in rounds)} |",
        f"| daemon healthy at the end | {'yes' if result['daemon_healthy'] else 'NO'} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--stock-storage", action="store_true", help="dagster.yaml's `storage:` as stock dagster-postgres (no pool)"
    )
    args = parser.parse_args(argv)
    out = args.out or str(RESULTS / ("service_load_stock" if args.stock_storage else "service_load"))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

    from synth_pipelines.data.loading import read_table
    from synth_pipelines_tests.conftest import ADULT
    from synth_pipelines_tests.dagster_processes import graphql
    from synth_pipelines_tests.service.load import figures, outcomes, run_load
    from synth_pipelines_tests.service.stack import DAEMON_HEALTH, production_service

    frame = read_table(ADULT, "csv").head(600)
    started = time.monotonic()
    baseline = [in_process_rate(args.files, frame) for _ in range(3)]
    rounds = []
    edits = {STOCK_FROM: "  postgres:\n"} if args.stock_storage else None
    with production_service(Path(tempfile.mkdtemp(prefix="service-load-")), frame, edits) as service:
        for k in range(args.rounds):
            result = run_load(service, args.files, f"r{k}")
            seen = outcomes(service, result)
            lost, duplicated = lost_and_duplicated(seen, result["drops"])
            row = {
                "figures": figures(result),
                "accepted": len(seen["accepted"]),
                "standing": len(seen["standing"]),
                "rejected": sum(seen["rejections"].values()),
                "lost": lost,
                "duplicated": duplicated,
                "stop_seconds": round(result["stop_seconds"], 1),
                "tick_seconds": [
                    round(t["endTimestamp"] - t["timestamp"], 3) for t in result["ticks"] if t["endTimestamp"]
                ],
                "samples": result["samples"],
            }
            print(json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
            rounds.append(row)
        statuses = graphql(service.url, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        healthy = all(s["healthy"] for s in statuses if s["required"])
    code = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()
    summary = {
        "command": "python benchmarks/service_load.py"
        + ("" if (args.files, args.rounds) == (1000, 3) else f" --files {args.files} --rounds {args.rounds}")
        + (" --stock-storage" if args.stock_storage else ""),
        "storage": "dagster-postgres stock (NullPool)" if args.stock_storage else "PooledPostgresStorage",
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), shared",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "code": code,
        "files": args.files,
        "baseline_requests_per_minute": baseline,
        "rounds": rounds,
        "daemon_healthy": healthy,
        "total_minutes": round((time.monotonic() - started) / 60, 1),
    }
    Path(out + ".json").write_text(json.dumps(summary, indent=1))
    Path(out + ".md").write_text(markdown(summary))
    print(markdown(summary))
    return 0 if healthy and not any(r["lost"] or r["duplicated"] for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
