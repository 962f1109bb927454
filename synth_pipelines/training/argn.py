"""`argn`: an autoregressive network over tokenised columns, in the style of TabularARGN (MOSTLY AI).

Every column becomes a token per row:
- a categorical, boolean or ordinal column (or a number with at most MAX_BINS distinct values): its level;
- a number or date with more distinct values: its quantile bin (at most MAX_BINS), and inside a bin the
  value is drawn back by interpolating WITHIN_BIN quantiles of the training values in that bin, so
  spikes (a bin of zeros) and skew come back as they were;
- a missing value: one more token of its own.

The network factorises p(row) = Π_j p(token_j | tokens before j), in the table's column order. Each
column has an embedding (a bias-free linear layer on its one-hot) and a head: two layers on the
concatenated embeddings of the columns before it, then the logits of its tokens. Training minimises
the summed cross-entropy with Adam, cuts the step on a plateau of the loss on a held-back tenth of
the rows, stops when that loss has not improved for PATIENCE epochs (or after `epochs`), and keeps the
best epoch's weights. Sampling draws column after column from (seed) alone, so any chunk can be made
again alone.

Not differentially private: the bin quantiles and levels are statistics of the training rows, as
an SDV model's marginals are. The model keeps no training row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_BINS = 64
WITHIN_BIN = 33  # quantile points per bin (the bin's min, max and 31 between)
EMBEDDING = 16
# A head's input is the embeddings of every column before it: on a wide table the embeddings shrink so
# that the widest input stays near CONTEXT_WIDTH (a head's cost grows with it, and there is one per column).
CONTEXT_WIDTH = 512
MIN_EMBEDDING = 2
HIDDEN = 128
# ... and the heads narrow too, so a wide table's fit costs about what a narrow one's does per row.
HIDDEN_BUDGET = 4096
MIN_HIDDEN = 32
PATIENCE = 5
# A small table still gets at least MIN_STEPS optimiser steps per epoch (the batch shrinks to allow it)
# and MIN_EPOCHS epochs before early stopping may end the fit.
MIN_STEPS = 10
MIN_EPOCHS = 5
VALIDATION_SHARE = 0.1
LEARNING_RATE = 2e-3
LR_DECAY = 0.3
LR_PATIENCE = 1
NUMERIC_SDTYPES = ("numerical", "datetime")


@dataclass
class Tokens:
    """One column's tokens: levels, or quantile bins with their inner quantiles; the last token is missing."""

    name: str
    kind: str  # "levels", "number" or "datetime"
    levels: list[Any] = field(default_factory=list)
    edges: np.ndarray | None = None
    inner: list[np.ndarray] = field(default_factory=list)
    integer: bool = False
    has_missing: bool = False

    @property
    def size(self) -> int:
        body = len(self.levels) if self.edges is None else len(self.edges) - 1
        return max(body, 1) + int(self.has_missing)

    @property
    def missing(self) -> int:
        return self.size - 1

    def encode(self, column: pd.Series) -> np.ndarray:
        present = column.notna().to_numpy()
        codes = np.full(len(column), self.missing if self.has_missing else 0, dtype=np.int64)
        if self.edges is None:
            codes[present] = pd.Index(self.levels).get_indexer(column[present])
        else:
            values = _numbers(column[present], self.kind)
            codes[present] = np.clip(np.searchsorted(self.edges, values, side="right") - 1, 0, len(self.edges) - 2)
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        missing = (codes == self.missing) if self.has_missing else np.zeros(len(codes), dtype=bool)
        if self.edges is None:
            values = np.empty(len(codes), dtype=object)
            values[:] = np.asarray(self.levels + [None], dtype=object)[np.where(missing, len(self.levels), codes)]
            return pd.Series(values, name=self.name).infer_objects()  # numbers stay numbers
        bins = np.clip(codes, 0, len(self.edges) - 2)
        draws = rng.random(len(codes))
        numbers = np.empty(len(codes))
        for b in np.unique(bins):
            rows = bins == b
            points = self.inner[b]
            numbers[rows] = np.interp(draws[rows], np.linspace(0.0, 1.0, len(points)), points)
        if self.integer:
            numbers = np.round(numbers)
        numbers[missing] = np.nan
        if self.kind == "datetime":
            stamps = pd.to_datetime(pd.Series(numbers).round(), unit="ns")
            return stamps.rename(self.name)
        return pd.Series(numbers, name=self.name)


def _numbers(column: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":
        stamps = pd.to_datetime(column, errors="coerce")
        return stamps.astype("int64").to_numpy(dtype=float)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def tokens_of(column: pd.Series, sdtype: str | None) -> Tokens:
    """The tokens of one training column."""
    kind = "datetime" if sdtype == "datetime" else "number" if sdtype == "numerical" else "levels"
    if kind != "levels":
        as_numbers = pd.Series(_numbers(column, kind), index=column.index)
        present = as_numbers.dropna().to_numpy()
        has_missing = bool(len(present) < len(column))
        if len(np.unique(present)) > MAX_BINS:
            edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, MAX_BINS + 1)))
            bins = np.clip(np.searchsorted(edges, present, side="right") - 1, 0, len(edges) - 2)
            inner = [
                np.quantile(present[bins == b], np.linspace(0.0, 1.0, WITHIN_BIN))
                if (bins == b).any()
                else edges[b : b + 2].copy()
                for b in range(len(edges) - 1)
            ]
            integer = bool(np.all(np.mod(present, 1) == 0))
            return Tokens(column.name, kind, edges=edges, inner=inner, integer=integer, has_missing=has_missing)
        column = column.where(as_numbers.notna())  # few distinct numbers: each is a level
    present_levels = pd.unique(column.dropna().astype(object))
    return Tokens(str(column.name), "levels", levels=list(present_levels), has_missing=bool(column.isna().any()))


def embedding_width(columns: int) -> int:
    return max(MIN_EMBEDDING, min(EMBEDDING, CONTEXT_WIDTH // max(columns, 1)))


def hidden_width(columns: int) -> int:
    return max(MIN_HIDDEN, min(HIDDEN, HIDDEN_BUDGET // max(columns, 1)))


def _network(sizes: list[int]) -> Any:
    import torch
    from torch import nn

    width, hidden = embedding_width(len(sizes)), hidden_width(len(sizes))

    class ARGN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sizes = sizes
            self.embed = nn.ModuleList([nn.Linear(k, width, bias=False) for k in sizes])
            self.hidden = nn.ModuleList([nn.Linear(max(j, 1) * width, hidden) for j in range(len(sizes))])
            self.hidden2 = nn.ModuleList([nn.Linear(hidden, hidden) for _ in sizes])
            self.out = nn.ModuleList([nn.Linear(hidden, k) for k in sizes])

        def head(self, j: int, embeddings: list[torch.Tensor], rows: int) -> torch.Tensor:
            device = next(self.parameters()).device
            context = torch.cat(embeddings[:j], 1) if j else torch.zeros(rows, width, device=device)
            hidden = torch.relu(self.hidden[j](context))
            hidden = torch.relu(self.hidden2[j](hidden)) + hidden
            return self.out[j](hidden)

        def forward(self, codes: torch.Tensor) -> list[torch.Tensor]:
            onehots = [nn.functional.one_hot(codes[:, j], k).float() for j, k in enumerate(self.sizes)]
            embeddings = [embed(onehot) for embed, onehot in zip(self.embed, onehots, strict=True)]
            return [self.head(j, embeddings, len(codes)) for j in range(len(self.sizes))]

    return ARGN()


def _losses(network: Any, codes: Any) -> list[Any]:
    import torch.nn.functional as F

    return [F.cross_entropy(logits, codes[:, j]) for j, logits in enumerate(network(codes))]


def _held_out_score(losses: list[Any], sizes: list[int]) -> float:
    """The early-stopping criterion: each column's held-out loss in units of its own uniform guess.

    Summed raw, the loss of a column with thousands of levels (which rises as soon as they are
    memorised) would end the fit before the other columns have learnt their dependencies.
    """
    return float(sum(float(loss) / np.log(max(size, 2)) for loss, size in zip(losses, sizes, strict=True)))


class ARGNModel:
    """A fitted `argn`: its tokens and network weights (on the CPU); `sample(num_rows, seed)` is pure."""

    conditional = False

    def __init__(self, tokens: list[Tokens], state: dict[str, Any], training_record: dict[str, Any]):
        self.name = "argn"
        self.tokens = tokens
        self.state = state
        self.training_record = training_record

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame:
        import torch
        from torch import nn

        if num_rows == 0:
            return pd.DataFrame({t.name: pd.Series(dtype=object) for t in self.tokens})
        network = _network([t.size for t in self.tokens])
        network.load_state_dict(self.state)
        network.eval()
        generator = torch.Generator().manual_seed(seed % 2**63)
        rng = np.random.default_rng([seed % 2**32, 0xA26])
        embeddings: list[torch.Tensor] = []
        columns = []
        with torch.no_grad():
            for j, tokens in enumerate(self.tokens):
                probabilities = torch.softmax(network.head(j, embeddings, num_rows), dim=1)
                codes = torch.multinomial(probabilities, 1, generator=generator)[:, 0]
                embeddings.append(network.embed[j](nn.functional.one_hot(codes, tokens.size).float()))
                columns.append(tokens.decode(codes.numpy(), rng))
        return pd.concat(columns, axis=1)


def fit_argn(
    data: pd.DataFrame,
    sdtypes: dict[str, str | None],
    epochs: int,
    batch_size: int,
    device: str,
    seed: int,
    max_seconds: float | None = None,
) -> ARGNModel:
    """Fit on `data` (every column modelled, kinds from `sdtypes`): at most `epochs` epochs, early-stopped,
    and no epoch begun after `max_seconds` (the best epoch so far is kept)."""
    import torch

    # One thread on the CPU: the heads' small products gain nothing from a second one, and beside another
    # busy process torch's two spinning threads made an epoch of caravan 9x slower (46 s against 5 s).
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        return _fit(data, sdtypes, epochs, batch_size, device, seed, max_seconds)
    finally:
        torch.set_num_threads(threads)


def _fit(data, sdtypes, epochs, batch_size, device, seed, max_seconds) -> ARGNModel:
    """fit_argn's body, on the thread count fit_argn set."""
    import torch

    started = time.perf_counter()
    tokens = [tokens_of(data[c], sdtypes.get(c)) for c in data.columns]
    codes = torch.as_tensor(np.stack([t.encode(data[t.name]) for t in tokens], axis=1), dtype=torch.long)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = _network([t.size for t in tokens]).to(device)
    order = torch.randperm(len(codes), generator=generator)
    held = max(1, int(len(codes) * VALIDATION_SHARE)) if len(codes) >= 20 else 0
    validation, train = codes[order[:held]].to(device), codes[order[held:]].to(device)
    if held == 0:
        validation = train
    sizes = [t.size for t in tokens]
    batch_size = max(1, min(batch_size, len(train) // MIN_STEPS))
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    # On a plateau the step shrinks (from the best weights so far) before early stopping gives up.
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=LR_DECAY, patience=LR_PATIENCE)
    best, best_state, stale, curve = float("inf"), None, 0, []
    stopped = "early stopping or epochs"
    for epoch in range(epochs):
        network.train()
        shuffled = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            loss = sum(_losses(network, train[shuffled[start : start + batch_size]]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        network.eval()
        with torch.no_grad():
            held_loss = _held_out_score(_losses(network, validation), sizes)
        curve.append({"epoch": epoch + 1, "validation_loss": held_loss})
        scheduler.step(held_loss)
        if held_loss < best - 1e-4:
            best, stale = held_loss, 0
            best_state = {k: v.detach().to("cpu").clone() for k, v in network.state_dict().items()}
        else:
            stale += 1
            if stale >= PATIENCE and epoch + 1 >= MIN_EPOCHS:
                break
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            stopped = "max_train_seconds"
            break
    from synth_pipelines.training.device import device_name

    record = {
        "synthesizer": "argn",
        "epochs": len(curve),
        "batch_size": batch_size,
        "best_epoch": min(curve, key=lambda c: c["validation_loss"])["epoch"] if curve else 0,
        "stopped_by": stopped,
        "train_seconds": round(time.perf_counter() - started, 3),
        "training_rows": len(data),
        "device": device,
        "device_name": device_name(device),
        "loss_curve": curve,
        "privacy": None,
    }
    return ARGNModel(tokens, best_state or {k: v.to("cpu") for k, v in network.state_dict().items()}, record)
