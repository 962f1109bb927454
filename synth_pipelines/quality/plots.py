"""PNG plots for the report: real vs synthetic distributions of the worst columns, the pair-trend heatmap.

Matplotlib with the Agg backend: PNG bytes with no display and no browser, so the HTML
report can embed them and open with no network.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on workers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Categories shown per bar chart; the rest are summed into "other" so labels stay readable.
_TOP_CATEGORIES = 12
_REAL, _SYNTHETIC = "#1f77b4", "#ff7f0e"


def _png(figure) -> bytes:
    # Fixed margins (set per figure) instead of bbox_inches="tight", which draws every figure twice.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def column_distribution_png(real: pd.Series, synthetic: pd.Series, title: str) -> bytes:
    """Overlaid density histogram (numbers, dates) or side-by-side category shares."""
    figure, axis = plt.subplots(figsize=(6, 3.2))
    numeric = pd.api.types.is_numeric_dtype(real) and not pd.api.types.is_bool_dtype(real)
    if numeric or pd.api.types.is_datetime64_any_dtype(real):
        r = pd.to_numeric(real, errors="coerce").dropna().to_numpy(dtype=float)
        s = pd.to_numeric(synthetic, errors="coerce").dropna().to_numpy(dtype=float)
        both = np.r_[r, s]
        low, high = np.quantile(both, [0.005, 0.995]) if len(both) else (0.0, 1.0)
        bins = np.linspace(low, high if high > low else low + 1, 40)
        axis.hist(r, bins=bins.tolist(), density=True, alpha=0.55, label="real", color=_REAL)
        axis.hist(s, bins=bins.tolist(), density=True, alpha=0.55, label="synthetic", color=_SYNTHETIC)
        axis.set_ylabel("density")
    else:
        real_share = real.astype(str).where(real.notna(), "(missing)").value_counts(normalize=True)
        synthetic_share = synthetic.astype(str).where(synthetic.notna(), "(missing)").value_counts(normalize=True)
        top = real_share.index[:_TOP_CATEGORIES]
        table = pd.DataFrame({"real": real_share, "synthetic": synthetic_share}).fillna(0.0)
        shown = table.loc[table.index.isin(top)].reindex(top)
        if len(table) > len(shown):
            shown.loc["other"] = table.loc[~table.index.isin(top)].sum()
        x = np.arange(len(shown))
        axis.bar(x - 0.2, shown["real"], width=0.4, label="real", color=_REAL)
        axis.bar(x + 0.2, shown["synthetic"], width=0.4, label="synthetic", color=_SYNTHETIC)
        axis.set_xticks(x, [str(i)[:18] for i in shown.index], rotation=45, ha="right", fontsize=7)
        axis.set_ylabel("share of rows")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.subplots_adjust(left=0.14, right=0.98, top=0.9, bottom=0.12 if numeric else 0.34)
    return _png(figure)


def pair_trend_heatmap_png(pairs: pd.DataFrame) -> bytes:
    """Pair-trend similarity per column pair (1 = same trend as the real data); blank where not scored."""
    columns = list(dict.fromkeys(pairs["Column 1"].tolist() + pairs["Column 2"].tolist()))
    matrix = pd.DataFrame(np.nan, index=columns, columns=columns)
    for _, row in pairs.iterrows():
        matrix.loc[row["Column 1"], row["Column 2"]] = row["Score"]
        matrix.loc[row["Column 2"], row["Column 1"]] = row["Score"]
    size = max(4.0, 0.45 * len(columns) + 2)
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    image = axis.imshow(matrix.to_numpy(dtype=float), vmin=0, vmax=1, cmap="RdYlGn")
    axis.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=7)
    axis.set_yticks(range(len(columns)), columns, fontsize=7)
    axis.set_title("Column pair trends (1 = same as real; blank = weak real association, not scored)", fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.046)
    margin = min(0.4, 0.12 + 0.012 * max((len(str(c)) for c in columns), default=0))
    figure.subplots_adjust(left=margin, right=0.95, top=0.93, bottom=margin)
    return _png(figure)


def write_png(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
