"""Fidelity: SDMetrics' QualityReport and DiagnosticReport scores on the planned synthetic sample.

The scores come from `fidelity_metrics` (SDMetrics' definitions on per-column codes, milliseconds
per column pair); a diagnostic that needs a metric only SDMetrics has runs SDMetrics' own report.
Each runs once on the whole fidelity sample (the reported scores) and once on each of its
disjoint parts (the measured standard error, see `sampling`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.quality import fidelity_metrics
from synth_pipelines.quality.sampling import SamplingPlan, finite_population_factor, quarter_standard_error

# How many of the lowest-scoring columns and pairs the report names.
WORST_COUNT = 5


def sdmetrics_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The single-table dict SDMetrics reads: the columns (with their ranges and categories) and the key."""
    result: dict[str, Any] = {"columns": metadata["columns"]}
    if metadata.get("primary_key"):
        result["primary_key"] = metadata["primary_key"]
    return result


def _sdmetrics_diagnostic(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any]) -> dict[str, float]:
    from sdmetrics.reports.single_table import DiagnosticReport

    report = DiagnosticReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-column warnings about constants and deprecations
        report.generate(real, synthetic, metadata, verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    return {
        "diagnostic": float(report.get_score()),
        "data_validity": float(properties["Data Validity"]),
        "data_structure": float(properties["Data Structure"]),
    }


def _scores(
    reference: fidelity_metrics.RealReference, synthetic: pd.DataFrame
) -> tuple[dict[str, float], fidelity_metrics.QualityScores]:
    quality = reference.quality(synthetic)
    scores = {
        "overall": quality.overall,
        "column_shapes": quality.column_shapes,
        "column_pair_trends": quality.column_pair_trends,
    }
    if fidelity_metrics.implements_diagnostic(reference.metadata):
        diagnostic = reference.diagnostic(synthetic)
        scores.update(
            diagnostic=diagnostic.diagnostic,
            data_validity=diagnostic.data_validity,
            data_structure=diagnostic.data_structure,
        )
    else:
        scores.update(_sdmetrics_diagnostic(reference.real, synthetic, reference.metadata))
    return scores, quality


def fidelity_scores(
    real_train: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any], plan: SamplingPlan, seed: int
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Quality and diagnostic scores, worst columns and pairs, their errors; plus the detail tables for plots."""
    sd_metadata = sdmetrics_metadata(metadata)
    rng = np.random.default_rng(seed + 5)
    order = rng.permutation(len(synthetic))[: plan.fidelity_rows]
    sample = synthetic.iloc[order].reset_index(drop=True)
    reference = fidelity_metrics.RealReference(real_train, sd_metadata)
    property_scores, quality = _scores(reference, sample)
    scores: dict[str, Any] = dict(property_scores)

    errors: dict[str, float] = {}
    if plan.fidelity_replicates > 1:
        parts = [_scores(reference, part)[0] for part in np.array_split(sample, plan.fidelity_replicates)]
        # Against the all-rows value: the sample is drawn without replacement from the export.
        remaining = finite_population_factor(len(sample), plan.synthetic_rows)
        errors = {key: quarter_standard_error([p[key] for p in parts]) * remaining for key in scores}

    shapes, pairs = quality.shapes, quality.pairs
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
