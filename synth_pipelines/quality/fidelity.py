"""Fidelity: SDMetrics QualityReport and DiagnosticReport on the planned synthetic sample.

The reports run once on the whole fidelity sample (the reported scores) and once on each
of its disjoint quarters (the measured standard error, see `sampling`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.quality.sampling import SamplingPlan, quarter_standard_error

# How many of the lowest-scoring columns and pairs the report names.
WORST_COUNT = 5


def sdmetrics_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The single-table dict SDMetrics reads: the columns (with their ranges and categories) and the key."""
    result: dict[str, Any] = {"columns": metadata["columns"]}
    if metadata.get("primary_key"):
        result["primary_key"] = metadata["primary_key"]
    return result


def _reports(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any]):
    from sdmetrics.reports.single_table import DiagnosticReport, QualityReport

    quality, diagnostic = QualityReport(), DiagnosticReport()
    with warnings.catch_warnings():
        # SDMetrics warns per column about constant columns and deprecations; the scores say enough.
        warnings.simplefilter("ignore")
        quality.generate(real, synthetic, metadata, verbose=False)
        diagnostic.generate(real, synthetic, metadata, verbose=False)
    return quality, diagnostic


def _property_scores(quality, diagnostic) -> dict[str, float]:
    q = quality.get_properties().set_index("Property")["Score"]
    d = diagnostic.get_properties().set_index("Property")["Score"]
    return {
        "overall": float(quality.get_score()),
        "column_shapes": float(q["Column Shapes"]),
        "column_pair_trends": float(q["Column Pair Trends"]),
        "diagnostic": float(diagnostic.get_score()),
        "data_validity": float(d["Data Validity"]),
        "data_structure": float(d["Data Structure"]),
    }


def fidelity_scores(
    real_train: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any], plan: SamplingPlan, seed: int
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Quality and diagnostic scores, worst columns and pairs, their errors; plus the detail tables for plots."""
    sd_metadata = sdmetrics_metadata(metadata)
    rng = np.random.default_rng(seed + 5)
    order = rng.permutation(len(synthetic))[: plan.fidelity_rows]
    sample = synthetic.iloc[order].reset_index(drop=True)
    quality, diagnostic = _reports(real_train, sample, sd_metadata)
    scores: dict[str, Any] = _property_scores(quality, diagnostic)

    errors: dict[str, float] = {}
    if plan.fidelity_replicates > 1:
        parts = [
            _property_scores(*_reports(real_train, part, sd_metadata))
            for part in np.array_split(sample, plan.fidelity_replicates)
        ]
        errors = {key: quarter_standard_error([p[key] for p in parts]) for key in scores}

    shapes = quality.get_details("Column Shapes")
    pairs = quality.get_details("Column Pair Trends")
    scored_pairs = pairs.dropna(subset=["Score"]).sort_values("Score")
    scores["worst_columns"] = [
        {"column": r["Column"], "metric": r["Metric"], "score": float(r["Score"])}
        for _, r in shapes.dropna(subset=["Score"]).sort_values("Score").head(WORST_COUNT).iterrows()
    ]
    scores["worst_pairs"] = [
        {"columns": [r["Column 1"], r["Column 2"]], "metric": r["Metric"], "score": float(r["Score"])}
        for _, r in scored_pairs.head(WORST_COUNT).iterrows()
    ]
    scores["fidelity_rows"] = len(sample)
    scores["standard_errors"] = errors
    return scores, {"shapes": shapes, "pairs": pairs, "sample": sample}
