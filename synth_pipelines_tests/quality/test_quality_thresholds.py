"""Each request threshold blocks when missed, names itself, and says by how much."""

from __future__ import annotations

import re

import pytest

from synth_pipelines.core.request import QualitySpec
from synth_pipelines.quality import threshold_checks

SCORES = {"overall": 0.80, "diagnostic": 0.95, "mia_auc": 0.62, "tstr_ratio": 0.85}

KEYS = {
    "min_overall": "overall",
    "min_diagnostic": "diagnostic",
    "max_mia_auc": "mia_auc",
    "min_tstr_ratio": "tstr_ratio",
}

# threshold, a limit the score misses, a limit the score meets, the expected miss
CASES = [
    ("min_overall", 0.85, 0.75, 0.05),
    ("min_diagnostic", 0.99, 0.90, 0.04),
    ("max_mia_auc", 0.55, 0.70, 0.07),
    ("min_tstr_ratio", 0.90, 0.80, 0.05),
]


@pytest.mark.parametrize(("threshold", "missed", "met", "miss"), CASES)
def test_missed_threshold_fails_and_names_itself(threshold: str, missed: float, met: float, miss: float) -> None:
    (check,) = threshold_checks(SCORES, QualitySpec(**{threshold: missed}))
    assert check["threshold"] == threshold
    assert check["passed"] is False
    assert check["limit"] == missed
    assert threshold in check["message"]
    shortfall = float(re.search(r"is (\d+\.\d+) (below|above)", check["message"]).group(1))
    assert shortfall == pytest.approx(miss, abs=1e-4)


@pytest.mark.parametrize(("threshold", "missed", "met", "miss"), CASES)
def test_met_threshold_passes(threshold: str, missed: float, met: float, miss: float) -> None:
    (check,) = threshold_checks(SCORES, QualitySpec(**{threshold: met}))
    assert check["passed"] is True
    assert check["value"] == SCORES[KEYS[threshold]]


def test_only_thresholds_the_request_sets_are_checked() -> None:
    assert threshold_checks(SCORES, QualitySpec()) == []
    checks = threshold_checks(SCORES, QualitySpec(min_overall=0.5, max_mia_auc=0.9))
    assert [c["threshold"] for c in checks] == ["min_overall", "max_mia_auc"]


def test_a_score_that_could_not_be_computed_fails_its_threshold() -> None:
    scores = {"overall": 0.9, "mia_auc": None, "skipped": {"mia_auc": "privacy attack module not available"}}
    (check,) = threshold_checks(scores, QualitySpec(max_mia_auc=0.6))
    assert check["passed"] is False
    assert "max_mia_auc" in check["message"] and "not available" in check["message"]
    (check,) = threshold_checks({"overall": 0.9}, QualitySpec(min_tstr_ratio=0.8))
    assert check["passed"] is False and "min_tstr_ratio" in check["message"]


def test_nan_score_fails() -> None:
    (check,) = threshold_checks({"overall": float("nan")}, QualitySpec(min_overall=0.1))
    assert check["passed"] is False
