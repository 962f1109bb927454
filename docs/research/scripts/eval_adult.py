"""Score a synthetic Adult CSV: SDMetrics QualityReport (vs adult.csv) and TSTR AUC (test: adult_test.csv).

Run with the project venv (read-only use):  /work/main/.venv/bin/python /tmp/notes/eval_adult.py synth.csv
"""

from __future__ import annotations

import json
import sys

import pandas as pd
from sdmetrics.reports.single_table import QualityReport
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

REAL = "/work/shared/datasets/adult.csv"
TEST = "/work/shared/datasets/adult_test.csv"
SCHEMA = "/work/main/requests/schemas/adult.json"


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    feats = [c for c in train.columns if c != "income"]
    cats = [c for c in feats if train[c].dtype == object or test[c].dtype == object]
    X = pd.concat([train[feats], test[feats]], keys=["tr", "te"])
    for c in cats:
        X[c] = X[c].astype("category")
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(X.loc["tr"], (train["income"] == ">50K").astype(int))
    return float(roc_auc_score((test["income"] == ">50K").astype(int), model.predict_proba(X.loc["te"])[:, 1]))


def main() -> None:
    real = pd.read_csv(REAL)
    test = pd.read_csv(TEST)
    synth = pd.read_csv(sys.argv[1])
    with open(SCHEMA) as fh:
        md = json.load(fh)["metadata"]["tables"]["data"]
    report = QualityReport()
    report.generate(real, synth, md, verbose=False)
    props = report.get_properties().set_index("Property")["Score"].round(3).to_dict()
    print(json.dumps({
        "file": sys.argv[1],
        "sdmetrics_quality": round(report.get_score(), 3),
        **props,
        "tstr_auc": round(tstr_auc(synth, test), 3),
        "trtr_auc": round(tstr_auc(real, test), 3) if "--trtr" in sys.argv else None,
    }))


if __name__ == "__main__":
    main()
