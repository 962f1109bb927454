"""mostlyai-engine TabularARGN on Adult, CPU, time-bounded.

Run:  /tmp/mostlyvenv/bin/python /tmp/notes/mostly_example.py {nodp|dp} MINUTES [MAX_EPOCHS] [NOISE_MULT]
Writes /tmp/notes/synth_argn_<mode>.csv and prints fit/sample seconds and the engine's reported epsilon.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from mostlyai.engine import TabularARGN
from mostlyai.engine.domain import DifferentialPrivacyConfig

DATA = "/work/shared/datasets/adult.csv"
N_SAMPLE, SEED = 5000, 7


def main() -> None:
    mode = sys.argv[1]
    minutes = float(sys.argv[2])
    max_epochs = float(sys.argv[3]) if len(sys.argv) > 3 else 100.0
    torch.set_num_threads(2)
    df = pd.read_csv(DATA, na_values=["?"], skipinitialspace=True)
    dp = None
    if mode == "dp":
        # a plain dict fails in analyze() (AttributeError: 'dict' has no 'value_protection_epsilon')
        dp = DifferentialPrivacyConfig(**{
            "max_epsilon": 1.0,  # training stops once RDP eps(delta) + value-protection eps exceeds this
            "delta": 1e-7,
            "noise_multiplier": float(sys.argv[4]) if len(sys.argv) > 4 else 1.5,
            "max_grad_norm": 1.0,
            "value_protection_epsilon": 0.1,
        })
    ws = Path(f"/tmp/notes/argn_ws_{mode}")
    model = TabularARGN(
        max_training_time=minutes,  # minutes
        max_epochs=max_epochs,
        differential_privacy=dp,
        value_protection=True,
        device="cpu",
        workspace_dir=ws,
        # A public seed seeds numpy/torch globally, so it must be None for DP (noise would follow it).
        random_state=SEED if mode == "nodp" else None,
        verbose=1,
    )
    t0 = time.perf_counter()
    model.fit(df)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth = model.sample(n_samples=N_SAMPLE)
    t_sample = time.perf_counter() - t0
    out = f"/tmp/notes/synth_argn_{mode}.csv"
    synth.to_csv(out, index=False)
    progress = sorted(ws.glob("ModelStore/**/model-progress*.csv")) or sorted(ws.glob("**/*progress*"))
    last = None
    if progress:
        prog = pd.read_csv(progress[0])
        last = prog.tail(3).to_dict("records")
    print(json.dumps({"mode": mode, "fit_s": round(t_fit, 1), "sample_s": round(t_sample, 1),
                      "rows": len(synth), "out": out, "progress_tail": last}, default=str))


if __name__ == "__main__":
    main()
