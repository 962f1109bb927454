"""Usefulness: train on synthetic, test on real (TSTR) against train on real, test on real (TRTR).

One scikit-learn model is fitted on synthetic rows and, separately, on the real training
rows: a linear model (logistic regression, or ridge for a numeric target) on standardised
numbers and one-hot categories. Its few parameters reach their limit within tens of
thousands of rows, so a sample of the synthetic rows scores what all of them would (a
boosted tree ensemble kept improving with rows and moved its score by more than 0.01 between
26k-row samples), and it fits in seconds; both are scored on the real holdout, which the
caller split off before the synthesizer was trained. The holdout rows are never fitted on:
`tstr_scores` refuses a holdout that shares a row index with the training rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from synth_pipelines.quality.sampling import SamplingPlan

# Few distinct values means a class label even when stored as numbers (e.g. 0/1 targets).
_MAX_CLASSES = 20


def _task(target: pd.Series, sdtype: str | None) -> str:
    if sdtype in ("categorical", "boolean") or target.dtype == object or target.nunique() <= _MAX_CLASSES:
        return "binary" if target.nunique() == 2 else "multiclass"
    return "regression"


def _model(task: str, numeric: list[str], categorical: list[str]) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    estimator = Ridge() if task == "regression" else LogisticRegression(max_iter=1000)
    return Pipeline([("prepare", prepare), ("model", estimator)])


def _number(column: pd.Series) -> pd.Series:
    """A feature as float; datetimes as seconds whatever their unit (an export reads back in
    microseconds, the real table in nanoseconds: one scaler must see one unit)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return (column.astype("datetime64[ns]") - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    return pd.to_numeric(column, errors="coerce")


def _inputs(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    out = {c: _number(frame[c]) for c in numeric}
    out.update({c: frame[c].astype(str).where(frame[c].notna(), "(missing)") for c in categorical})
    return pd.DataFrame(out, index=frame.index)


def _score(task: str, model, features: pd.DataFrame, truth: pd.Series, classes: list[Any]) -> float:
    if task == "regression":
        return float(r2_score(truth.astype(float), model.predict(features)))
    if task == "binary":
        positive = classes[-1]
        if positive not in list(model.classes_):
            return 0.5  # a model that never saw the positive class ranks at chance
        probability = model.predict_proba(features)[:, list(model.classes_).index(positive)]
        return float(roc_auc_score((truth == positive).to_numpy(), probability))
    return float(accuracy_score(truth, model.predict(features)))


def tstr_scores(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    target: str,
    metadata: dict[str, Any],
    plan: SamplingPlan,
    seed: int,
) -> dict[str, Any]:
    """TSTR and TRTR scores on the real holdout, their ratio, and the TSTR error over independent synthetic samples."""
    for name, frame in (("real training data", real_train), ("holdout", real_holdout), ("synthetic data", synthetic)):
        if target not in frame.columns:
            raise ValueError(f"target_column {target!r} is not a column of the {name}")
    overlap = real_train.index.intersection(real_holdout.index)
    if len(overlap) and real_train.loc[overlap].equals(real_holdout.loc[overlap]):
        raise ValueError(f"the holdout shares {len(overlap)} rows with the training data; TSTR needs unseen rows")
    columns = [
        c
        for c, meta in metadata["columns"].items()
        if c != target
        and meta.get("sdtype") not in ("id", "pii")
        and c in synthetic.columns
        and c in real_train.columns
    ]
    sdtype = metadata["columns"].get(target, {}).get("sdtype")
    real_target = real_train[target]
    task = _task(real_target, sdtype)
    numeric = [c for c in columns if metadata["columns"][c].get("sdtype") in ("numerical", "datetime")]
    categorical = [c for c in columns if c not in numeric]

    def features(frame: pd.DataFrame) -> pd.DataFrame:
        return _inputs(frame, numeric, categorical)

    test_x, test_y = features(real_holdout), real_holdout[target]
    classes = sorted(real_target.dropna().unique().tolist(), key=str) if task != "regression" else []
    if task != "regression":
        test_y = test_y.where(test_y.isin(classes))
    keep = test_y.notna().to_numpy()
    test_x, test_y = test_x[keep], test_y[keep]

    train_rows = real_train[real_target.notna()]
    real_model = _model(task, numeric, categorical).fit(features(train_rows), train_rows[target])
    real_score = _score(task, real_model, test_x, test_y, classes)

    rng = np.random.default_rng(seed + 4)
    order = rng.permutation(len(synthetic))
    replicates = min(plan.tstr_replicates, max(1, len(synthetic) // max(plan.tstr_rows, 1)))
    synthetic_scores = []
    for k in range(replicates):
        # Disjoint synthetic samples, so the spread is the error of one sample of this size.
        rows = synthetic.iloc[order[k * plan.tstr_rows : (k + 1) * plan.tstr_rows]]
        rows = rows[rows[target].notna()]
        if task != "regression":
            rows = rows[rows[target].isin(classes)]
        if task != "regression" and rows[target].nunique() < 2:
            # One class only: the model can only predict it, which ranks at chance (or hits that class).
            only = rows[target].iloc[0] if len(rows) else None
            synthetic_scores.append(0.5 if task == "binary" else float((test_y == only).mean()))
            continue
        model = _model(task, numeric, categorical).fit(features(rows), rows[target])
        synthetic_scores.append(_score(task, model, test_x, test_y, classes))
    synthetic_score = float(np.mean(synthetic_scores))
    error = float(np.std(synthetic_scores, ddof=1) / np.sqrt(len(synthetic_scores))) if replicates > 1 else float("nan")
    return {
        "target": target,
        "task": task,
        "metric": {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task],
        "model": type(real_model[-1]).__name__,
        "synthetic_score": synthetic_score,
        "real_score": real_score,
        "ratio": synthetic_score / real_score if real_score else float("nan"),
        "synthetic_rows_per_fit": plan.tstr_rows,
        "synthetic_fits": replicates,
        "real_train_rows": int(len(train_rows)),
        "holdout_rows": int(len(test_y)),
        "standard_error": error,
    }
