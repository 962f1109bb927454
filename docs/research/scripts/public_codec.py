"""Public-domain discretisation of Adult from requests/schemas/adult.json (shared by the examples)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

SCHEMA = "/work/main/requests/schemas/adult.json"
WIDE_BINS = 32  # public choice: bins for numeric columns whose integer range is > 128


def load_schema() -> dict[str, dict]:
    with open(SCHEMA) as fh:
        return json.load(fh)["parameters"]["tables"]["data"]["columns"]


class PublicCodec:
    """Column -> integer slot codes, all decided by the schema (never by the rows)."""

    def __init__(self, params: dict[str, dict]) -> None:
        self.params = params
        self.edges: dict[str, np.ndarray] = {}
        self.cats: dict[str, list] = {}
        for col, p in params.items():
            if "category_values" in p:
                # declared values + one slot for missing + one for "other" (never generated)
                self.cats[col] = list(p["category_values"]) + ["<NA>", "<OTHER>"]
            else:
                lo, hi = float(p["min_value"]), float(p["max_value"])
                if hi - lo <= 128:
                    self.edges[col] = np.arange(lo, hi + 2)  # one slot per integer
                else:  # a slot for exactly `lo` (e.g. capital_gain == 0), then uniform bins
                    self.edges[col] = np.concatenate([[lo], np.linspace(lo + 1, hi + 1, WIDE_BINS + 1)])

    def sizes(self) -> dict[str, int]:
        # same key order as the columns: check_fit compares two Series label by label
        return {c: len(self.cats[c]) if c in self.cats else len(self.edges[c]) - 1 for c in self.params}

    def encode(self, df: pd.DataFrame) -> pd.DataFrame:
        codes = {}
        for col in self.params:
            if col in self.cats:
                lut = {v: i for i, v in enumerate(self.cats[col][:-2])}
                s = df[col].map(lut)
                s = s.where(df[col].notna(), len(lut))  # <NA>
                codes[col] = s.fillna(len(lut) + 1).astype(int)  # <OTHER>
            else:
                e = self.edges[col]
                v = df[col].astype(float).clip(e[0], e[-1] - 1e-9)
                codes[col] = (np.searchsorted(e, v.to_numpy(), side="right") - 1).clip(0, len(e) - 2)
        return pd.DataFrame(codes, index=df.index)

    def decode(self, codes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = {}
        for col in self.params:
            c = codes[col].to_numpy().astype(int)
            if col in self.cats:
                vals = np.array(self.cats[col][:-2] + [None, None], dtype=object)
                out[col] = vals[c]  # <NA> and <OTHER> both come back as missing
            else:
                e = self.edges[col]
                lo, hi = e[c], e[c + 1]
                out[col] = np.floor(lo + rng.random(len(c)) * (hi - lo)).astype("int64")
        return pd.DataFrame(out)[list(self.params)]
