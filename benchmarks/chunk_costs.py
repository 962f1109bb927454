"""Where a chunk's time goes: the numbers behind the scale design, measured in one session.

On Adult with gaussian_copula (a model fitted here, seed 0):
- the share of SDV's exact sampling time spent in the marginals' ppf, and the tabulated
  sampler's speed against SDV's on the same 10,000-row chunk;
- the fixed cost of one sample call (a 100-row call) and what a 10,000-row chunk costs
  against a tenth-of-a-percent slice of one 1,000,000-row call, plus one chunk's Parquet write;
- two processes sampling chunks at once, with the native thread pools left alone and with
  them at one thread (what a chunk step does), against one process alone.
- a fresh step process: the seconds to import the Dagster instance's modules after the
  libraries a step already has (what the forkserver preloads since this stop).

Usage: .venv/bin/python benchmarks/chunk_costs.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHUNK = 10_000


def _model():

    from synth_pipelines.core.request import SynthesizerSpec
    from synth_pipelines.data.loading import read_table
    from synth_pipelines.data.profiling import detect_metadata
    from synth_pipelines.training.synthesizers import fit_model

    frame = read_table(REPO / "sample_data" / "adult.csv", "csv")  # as the pipeline reads it ("?" is missing)
    return frame, fit_model(frame, detect_metadata(frame), SynthesizerSpec(name="gaussian_copula"))


def _seconds(call, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _sampling(model) -> dict:
    from scipy import stats

    copula = model.synthesizer._model
    os.environ["SYNTH_COPULA_SAMPLING"] = "exact"
    exact = _seconds(lambda: model.sample(CHUNK, 1))
    scores = stats.norm.cdf(stats.norm.rvs(size=CHUNK, random_state=1))
    ppf = _seconds(lambda: [u.percent_point(scores) for u in copula.univariates])
    os.environ["SYNTH_COPULA_SAMPLING"] = "table"
    table = _seconds(lambda: model.sample(CHUNK, 1))
    fixed = _seconds(lambda: model.sample(100, 1))
    one_call = _seconds(lambda: model.sample(1_000_000, 1), repeats=1) / (1_000_000 / CHUNK)
    return {
        "exact_chunk_seconds": round(exact, 4),
        "ppf_seconds_in_a_chunk": round(ppf, 4),
        "ppf_share_of_exact_sampling": round(ppf / exact, 3),
        "tabulated_chunk_seconds": round(table, 4),
        "tabulated_speedup": round(exact / table, 2),
        "fixed_seconds_per_sample_call": round(fixed, 4),
        "chunk_seconds_if_sampled_in_one_1m_call": round(one_call, 4),
    }


def _write(frame, model) -> dict:
    from synth_pipelines.generation.export import kinds_of, write_chunk

    rows = model.sample(CHUNK, 1)
    kinds = kinds_of(frame)
    with tempfile.TemporaryDirectory() as folder:
        seconds = _seconds(lambda: write_chunk(rows, kinds, Path(folder) / "chunk.parquet"))
    return {"parquet_write_seconds_per_chunk": round(seconds, 4)}


def _worker(model_path: str, chunks: int, limit_threads: bool) -> None:
    """One process sampling `chunks` chunks; prints its seconds per chunk."""
    import cloudpickle

    from synth_pipelines.defs.generation.assets import one_thread

    with open(model_path, "rb") as handle:
        model = cloudpickle.load(handle)
    model.sample(100, 0)
    started = time.perf_counter()
    if limit_threads:
        with one_thread():
            for index in range(chunks):
                model.sample(CHUNK, index)
    else:
        for index in range(chunks):
            model.sample(CHUNK, index)
    print(json.dumps({"seconds_per_chunk": (time.perf_counter() - started) / chunks}))


def _processes(model, count: int, limit_threads: bool, chunks: int = 15) -> float:
    import cloudpickle

    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as handle:
        cloudpickle.dump(model, handle)
    command = [sys.executable, __file__, "--worker", handle.name, str(chunks), "1" if limit_threads else "0"]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in running]
    os.unlink(handle.name)
    return statistics.mean(o["seconds_per_chunk"] for o in outputs)


def _concurrency(model) -> dict:
    alone = _processes(model, 1, limit_threads=True)
    two_default = _processes(model, 2, limit_threads=False)
    two_limited = _processes(model, 2, limit_threads=True)
    return {
        "one_process_seconds_per_chunk": round(alone, 4),
        "two_processes_default_threads_seconds_per_chunk": round(two_default, 4),
        "two_processes_one_thread_seconds_per_chunk": round(two_limited, 4),
        "slowdown_two_processes_default_threads": round(two_default / alone, 3),
        "slowdown_two_processes_one_thread": round(two_limited / alone, 3),
    }


def _instance_imports() -> dict:
    """A fresh interpreter with a step's libraries imported, then the instance modules the forkserver preloads."""
    script = (
        "import time, importlib, dagster, pandas, pyarrow.parquet, sdv.single_table, torch\n"
        "import synth_pipelines.definitions\n"
        "from synth_pipelines.executors import import_instance_modules\n"
        "started = time.perf_counter()\n"
        "import_instance_modules()\n"
        "print(time.perf_counter() - started)\n"
    )
    runs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
        runs.append(float(done.stdout.strip().splitlines()[-1]))
    return {"instance_module_import_seconds_per_step": round(statistics.median(runs), 3)}


def markdown(result: dict) -> str:
    s, w, c, i = result["sampling"], result["write"], result["concurrency"], result["instance_imports"]
    return "\n".join(
        [
            "# Chunk costs",
            "",
            f"`{result['command']}` on {result['machine']}, {result['date']}; Adult, gaussian_copula, "
            f"{CHUNK:,}-row chunks.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| SDV exact sampling, one chunk | {s['exact_chunk_seconds']} s |",
            f"| of which the marginals' ppf | {s['ppf_seconds_in_a_chunk']} s "
            f"({s['ppf_share_of_exact_sampling']:.0%}) |",
            f"| tabulated sampling, one chunk | {s['tabulated_chunk_seconds']} s ({s['tabulated_speedup']}× faster) |",
            f"| fixed cost of one sample call (100 rows) | {s['fixed_seconds_per_sample_call']} s |",
            f"| a chunk's share of one 1,000,000-row call | {s['chunk_seconds_if_sampled_in_one_1m_call']} s |",
            f"| Parquet write of one chunk | {w['parquet_write_seconds_per_chunk']} s |",
            f"| two processes sampling at once, default threads: slowdown per chunk | "
            f"{c['slowdown_two_processes_default_threads']}× |",
            f"| two processes sampling at once, one thread each: slowdown per chunk | "
            f"{c['slowdown_two_processes_one_thread']}× |",
            f"| importing the modules the forkserver preloads for the instance, in a fresh process | "
            f"{i['instance_module_import_seconds_per_step']} s |",
            "",
        ]
    )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    frame, model = _model()
    result = {
        "command": "python benchmarks/chunk_costs.py",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "sampling": _sampling(model),
        "write": _write(frame, model),
        "concurrency": _concurrency(model),
        "instance_imports": _instance_imports(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chunk_costs.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "chunk_costs.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
