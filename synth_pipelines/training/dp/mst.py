"""dp_mst: McKenna et al.'s MST (NIST 2018 winner) on Private-PGM's `mbi` 2.0, on the public schema's domain.

Every column's slots come from `privacy/domain.py` (`domain_from_schema`, `slots_of`): the
null slot, the declared categories and the "other" slot, the numeric bins. Integer columns of at
most MST_INTEGER_BINS values keep one slot per value. A wider numeric column's 1-way histogram is
released on its fine bins (the schema's, FINE_BINS of them), and its coarse bins are cut from that
release (`released_groups`, post-processing): the first fine bin alone (a spike at the declared
minimum, such as capital_gain = 0), the rest where the noisy mass crosses each 1/MST_BINS
quantile, so bins are narrow where the values are and wide where they are not (equal runs of the
declared range put most of weather's precipitation in one bin). Sampling draws the fine bin
within a coarse one from the same release, and a coarse bin the release finds empty
(`released_empty`) is never generated. The coarse bins differ between two fits as the noise
does; they read the rows only through the released histogram. The tree's vertex set and size are
public.

The rows reach three zCDP mechanisms, ρ = zcdp_rho(ε, δ) split in thirds as in MST:

1. every column's 1-way histogram, OpenDP's discrete Gaussian (L2 sensitivity 1 each);
2. the maximum spanning tree, r − 1 picks of OpenDP's noisy max (the exponential mechanism
   under zCDP, its noise from OpenDP's CSPRNG): each candidate pair's score is the L1 distance
   between its 2-way counts and the independent model of the noisy 1-way marginals, which a
   row moves by at most 1;
3. the selected 2-way histograms, OpenDP's discrete Gaussian.

With a target (the request's `quality.target_column`, public; at most MST_TARGET_SLOTS slots) the
model is tree-augmented naive Bayes: the tree is spanned over the other columns, and each tree edge
(a, b) is measured as the 3-way histogram (target, a, b), so the target's dependence on every column
is measured, not inferred along the tree. The number of mechanisms and their ρ are the same.

OpenDP states each mechanism's ρ; the sum is converted to (ε, δ) once. Everything after is
post-processing: mbi's mirror descent (`synthesizer.epochs` iterations, public) fits a
graphical model to the noisy measurements, and the model keeps only its tree's 2-way (with a
target, 3-way) marginals as numpy arrays. Sampling walks the tree from a seeded numpy generator
(the same seed, the same rows); a numeric value's fine bin is drawn within its coarse bin from the
release (uniformly where the release is empty), its value uniformly within the fine bin, inside the
declared bounds, except that the bins at the bounds give the bound. Slots the schema rules out
(null in a column declared without missing values, the "other" slot) are measured, since a row
must land somewhere, but never generated.

Not done (and why): MST's domain compression of rare categories from the noisy 1-way counts is
post-processing too, like the released numeric bins; it is left for a later change, with a test
that, as `test_released_bins_read_the_rows_only_through_the_release` does for the bins, fixes the
release and checks that neighbours then compress alike.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth_pipelines.privacy.domain import (
    CategoricalColumn,
    NumericColumn,
    PrivateSchema,
    decode_numeric,
    decode_slots,
    histogram_counts,
    release_histogram,
    slots_of,
)

MST_BINS = 32  # coarse bins of a numeric column whose fine bins are not one per integer (plus its first bin)
MST_INTEGER_BINS = 128  # integer columns with at most this many values keep one slot per value
RELEASE_FLOOR = 2.0  # released fine counts below this many noise σ are taken as empty
MST_TARGET_SLOTS = 32  # a target with more slots is not joined to every clique (the cliques would grow too large)
STAGE_SHARES = {"one_way": 1 / 3, "selection": 1 / 3, "two_way": 1 / 3}


def _mbi():
    """mbi, imported with jax in float64 and without the persistent compilation cache, its warnings silenced."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mbi
    return mbi


@dataclass
class MSTColumn:
    """One modelled column as MST sees it: a slot per null, category or coarse bin."""

    spec: NumericColumn | CategoricalColumn
    fine_to_slot: np.ndarray  # the domain's slot (slots_of) → MST slot
    group_starts: np.ndarray  # numeric: first fine bin of each coarse bin (and the end), in fine-bin numbers
    allowed: np.ndarray  # bool per MST slot: may it be generated?
    fine_weights: np.ndarray | None = None  # released (noisy, clipped) fine-bin counts: the draw within a bin

    @property
    def size(self) -> int:
        return len(self.allowed)


def coarse_groups(spec: NumericColumn) -> np.ndarray:
    """Boundaries (fine-bin numbers) of a numeric column's coarse bins: a public function of the schema alone."""
    fine = len(spec.edges) - 1
    if (spec.integer_bins and fine <= MST_INTEGER_BINS) or fine <= MST_BINS + 1:
        return np.arange(fine + 1)
    return np.concatenate([[0], np.round(np.linspace(1, fine, MST_BINS + 1)).astype(int)])


def is_released(spec: NumericColumn | CategoricalColumn) -> bool:
    """Whether the column's coarse bins are cut from its released fine histogram (a rule of the schema alone)."""
    return isinstance(spec, NumericColumn) and len(coarse_groups(spec)) < len(spec.edges)


def released_weights(noisy: np.ndarray, scale: float) -> np.ndarray:
    """Fine-bin weights from a released histogram: counts the noise alone would reach (2 σ) count as empty.

    Clipping at zero alone leaves every empty bin about 0.4 σ, which spread draws over empty tails
    (a tenth of weather's rows at ε = 1) and broke the columns' correlations.
    """
    noisy = np.asarray(noisy, dtype=float)
    return np.where(noisy > RELEASE_FLOOR * scale, noisy, 0.0)


def released_groups(spec: NumericColumn, weights: np.ndarray) -> np.ndarray:
    """Coarse-bin boundaries from released weights (null, fine bins): post-processing of a DP release."""
    fine = len(spec.edges) - 1
    mass = np.asarray(weights, dtype=float)[2:]  # fine bins 1 .. fine-1 (bin 0 keeps its own coarse bin)
    if mass.sum() <= 0:
        return coarse_groups(spec)
    share = np.cumsum(mass) / mass.sum()
    cuts = 2 + np.searchsorted(share, np.arange(1, MST_BINS) / MST_BINS, side="left")  # first fine bin after a cut
    return np.unique(np.concatenate([[0, 1], np.clip(cuts, 1, fine), [fine]]))


def released_empty(weights: np.ndarray, coarse: np.ndarray, starts: np.ndarray, scale: float) -> np.ndarray:
    """Per coarse bin: does the release find it empty? (post-processing of the released fine histogram)

    Empty: none of its fine counts clears the floor and their noisy sum is under the floor for the sum of
    its width's noise. Such a bin (an empty tail past the last cut, a bound nobody reaches) is never
    generated; else mbi's share of it was drawn uniformly over empty fine bins (3-12% of capital_loss's
    values on 3,000 Adult rows at ε = 1, 1,000 iterations). A thin tail whose sum the noise cannot explain stays.
    """
    width = np.diff(starts).astype(float)
    held = np.add.reduceat(np.asarray(weights, dtype=float), starts[:-1]) > 0
    return ~held & (np.asarray(coarse, dtype=float) <= RELEASE_FLOOR * scale * np.sqrt(width))


def mst_column(
    spec: NumericColumn | CategoricalColumn,
    starts: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    empty: np.ndarray | None = None,
) -> MSTColumn:
    if isinstance(spec, CategoricalColumn):
        slots = len(spec.categories) + 1  # null, categories..., FOLDED last
        allowed = np.ones(slots, dtype=bool)
        allowed[-1] = False  # values outside the declared list are counted, never generated
        allowed[0] = spec.nullable
        return MSTColumn(spec, np.arange(slots), np.empty(0, dtype=int), allowed)
    starts = coarse_groups(spec) if starts is None else starts
    fine_bins = np.arange(len(spec.edges) - 1)
    group = np.searchsorted(starts, fine_bins, side="right") - 1
    allowed = np.ones(len(starts), dtype=bool)  # null + len(starts) - 1 coarse bins
    allowed[0] = spec.nullable
    if empty is not None and not empty.all():  # bins the release finds empty are never generated
        allowed[1:] &= ~empty
    return MSTColumn(spec, np.concatenate([[0], 1 + group]), starts, allowed, weights)


def encode(columns: list[MSTColumn], data: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c.spec.name: c.fine_to_slot[slots_of(c.spec, data[c.spec.name])] for c in columns}


def _counts(codes: dict[str, np.ndarray], sizes: dict[str, int], clique: tuple[str, ...]) -> np.ndarray:
    """The clique's contingency table as a flat int64 vector (C order, as mbi's datavector)."""
    flat = np.zeros(len(next(iter(codes.values()))), dtype=np.int64)
    for name in clique:
        flat = flat * sizes[name] + codes[name]
    return np.bincount(flat, minlength=math.prod(sizes[n] for n in clique)).astype(np.int64)


def _select_tree(
    codes: dict[str, np.ndarray], sizes: dict[str, int], one_way: dict[str, np.ndarray], rho: float
) -> tuple[list[tuple[str, str]], float]:
    """(the r − 1 edges, ρ OpenDP states): Kruskal with OpenDP's noisy max choosing each edge."""
    import opendp.prelude as dp
    from scipy.cluster.hierarchy import DisjointSet

    dp.enable_features("contrib")
    names = list(sizes)
    picks = len(names) - 1
    scale = 1.0 / math.sqrt(2.0 * rho / picks)  # noisy max with non-monotonic sensitivity 1 costs 1/(2 scale²)
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.linf_distance(T=float, monotonic=False)
    measurement = dp.m.make_noisy_max(*space, dp.zero_concentrated_divergence(), scale=scale)
    total = float(np.mean([max(v.sum(), 1.0) for v in one_way.values()]))
    independent = {n: np.clip(v, 0, None) / max(np.clip(v, 0, None).sum(), 1e-12) for n, v in one_way.items()}
    candidates = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    scores = {
        (a, b): float(
            np.abs(_counts(codes, sizes, (a, b)) - total * np.outer(independent[a], independent[b]).ravel()).sum()
        )
        for a, b in candidates
    }
    forest = DisjointSet(names)
    edges: list[tuple[str, str]] = []
    spent = 0.0
    for _ in range(picks):
        candidates = [e for e in candidates if not forest.connected(*e)]
        chosen = candidates[int(measurement([scores[e] for e in candidates]))]
        spent += float(measurement.map(1.0))
        edges.append(chosen)
        forest.merge(*chosen)
    return edges, spent


class DPMST:
    """The tree's 2-way (or target × 2-way) marginals, post-processing of noisy counts, and a sampler.

    Holds no training row.
    """

    name = "dp_mst"
    target: str | None = None  # models pickled before the target option have no such attribute

    def __init__(
        self,
        schema: PrivateSchema,
        columns: list[MSTColumn],
        edges: list[tuple[str, str]],
        marginals,
        target: str | None = None,
    ):
        self.schema = schema
        self.columns = columns
        self.edges = edges
        # {"root": (name, 1-way), (parent, child): parent × child table}; with a target, "root" is the target's
        # 1-way, (target, first column) its 2-way, and (parent, child) the target × parent × child table.
        self.marginals = marginals
        self.target = target
        self.training_record: dict = {}

    @property
    def root(self) -> str:
        """The first modelled column that is not the target: where the walk over the tree starts."""
        return next(c.spec.name for c in self.columns if c.spec.name != self.target)

    def _plan(self) -> list[tuple[str, str]]:
        """(parent, child) pairs, breadth first from the root."""
        neighbours: dict[str, list[str]] = {c.spec.name: [] for c in self.columns if c.spec.name != self.target}
        for a, b in self.edges:
            neighbours[a].append(b)
            neighbours[b].append(a)
        root = self.root
        seen, queue, plan = {root}, [root], []
        while queue:
            parent = queue.pop(0)
            for child in neighbours[parent]:
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
                    plan.append((parent, child))
        return plan

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        by_name = {c.spec.name: c for c in self.columns}
        first, table = self.marginals["root"]
        slots = {
            first: _draw(
                rng, np.broadcast_to(_allowed(table, by_name[first]), (1, len(table))), np.zeros(num_rows, int)
            )
        }
        hub = self.target
        if hub is not None:
            slots[self.root] = _draw(rng, _allowed(self.marginals[(hub, self.root)], by_name[self.root]), slots[hub])
        for parent, child in self._plan():
            joint = self.marginals[(parent, child)]
            if hub is None:
                slots[child] = _draw(rng, _allowed(joint, by_name[child]), slots[parent])
            else:  # target × parent × child: the child given (target, parent)
                given = slots[hub] * joint.shape[1] + slots[parent]
                slots[child] = _draw(rng, _allowed(joint.reshape(-1, joint.shape[-1]), by_name[child]), given)
        frame = {}
        for column in self.columns:
            frame[column.spec.name] = _decode(column, slots[column.spec.name], rng).reset_index(drop=True)
        return pd.DataFrame(frame, index=pd.RangeIndex(num_rows))


def _allowed(table: np.ndarray, column: MSTColumn) -> np.ndarray:
    """Rows: conditionals over the column's slots, zero where the schema rules a slot out, renormalised."""
    weights = np.clip(np.atleast_2d(np.asarray(table, dtype=float)), 0.0, None) * column.allowed
    marginal = weights.sum(axis=0)
    fallback = marginal / marginal.sum() if marginal.sum() > 0 else column.allowed / column.allowed.sum()
    sums = weights.sum(axis=1, keepdims=True)
    return np.where(sums > 0, weights / np.where(sums > 0, sums, 1.0), fallback)


def _draw(rng: np.random.Generator, conditionals: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Per row a slot from its parent's conditional; the rows of one parent value get each slot in proportion."""
    out = np.empty(len(parent), dtype=int)
    for value in np.unique(parent):
        rows = np.flatnonzero(parent == value)
        out[rows] = _allocate(rng, conditionals[value], len(rows))
    return out


def _allocate(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """n slots from the distribution p, each slot floor(n p) times or once more, in random order.

    Private-PGM's own sampler rounds the same way: against n independent draws, the rows' marginals
    along the tree are the model's up to one row per slot, not up to the sampling noise (at 5,000 rows
    about 0.5% of total variation per column; on military that was its SDMetrics gap to dpmm's MST).
    The extra rows go to slots drawn in proportion to their remainders. A function of the model and the seed.
    """
    expected = n * np.asarray(p, dtype=float)
    counts = np.floor(expected).astype(int)
    left = n - int(counts.sum())
    remainder = expected - counts
    if left > 0 and remainder.sum() > 0:
        extra = rng.choice(
            len(p), size=min(left, int(np.count_nonzero(remainder))), replace=False, p=remainder / remainder.sum()
        )
        counts[extra] += 1
    slots = np.repeat(np.arange(len(p)), counts)
    if len(slots) < n:  # rounding left rows over: independent draws for them
        slots = np.concatenate([slots, rng.choice(len(p), size=n - len(slots), p=p / p.sum())])
    return rng.permutation(slots[:n])


def _decode(column: MSTColumn, slot: np.ndarray, rng: np.random.Generator) -> pd.Series:
    spec = column.spec
    if isinstance(spec, CategoricalColumn):
        return decode_slots(spec, slot)
    starts = column.group_starts
    group = np.maximum(slot - 1, 0)
    width = starts[group + 1] - starts[group]
    u = rng.random(len(slot))
    fine = starts[group] + np.floor(u * width).astype(int)
    if column.fine_weights is not None:  # the fine bin in proportion to its released count, where there is one
        for g in np.unique(group):
            weights = column.fine_weights[starts[g] : starts[g + 1]]
            if weights.sum() > 0:
                rows = group == g
                cdf = np.cumsum(weights) / weights.sum()
                fine[rows] = starts[g] + np.minimum(np.searchsorted(cdf, u[rows], side="right"), len(weights) - 1)
    fine_slot = np.where(slot == 0, 0, 1 + fine)
    within = rng.random(len(slot))
    if not spec.integer_bins:
        # The declared bounds' own bins give the bound itself: a public rule that keeps a spike there (precipitation
        # 0, visibility 10 miles, capital_gain 0) a spike, where a uniform draw would smear it over the bin.
        within = np.where(fine == 0, 0.0, np.where(fine == len(spec.edges) - 2, 1.0, within))
    return decode_numeric(spec, fine_slot, within)


def mst_target(columns: list[MSTColumn], target: str | None) -> str | None:
    """The target the cliques are joined to, or None: a public choice (the request's column and the schema)."""
    sizes = {c.spec.name: c.size for c in columns}
    if target not in sizes or len(columns) < 2 or sizes[target] > MST_TARGET_SLOTS:
        return None
    return target


def fit_mst(
    domain: PrivateSchema,
    data: pd.DataFrame,
    rho: float,
    iterations: int,
    private: bool = True,
    target: str | None = None,
) -> tuple[DPMST, dict[str, float]]:
    """(model, ρ spent per stage as OpenDP states it). `private=False` is the noise-free twin (never a request)."""
    columns = [mst_column(spec) for spec in domain.columns]
    if not columns:
        return DPMST(domain, [], [], {}), dict.fromkeys(STAGE_SHARES, 0.0)
    hub = mst_target(columns, target)  # on the schema's slots: a public choice
    sizes = {c.spec.name: c.size for c in columns}
    features = [name for name in sizes if name != hub]
    if len(columns) == 1:
        shares = {"one_way": 1.0, "selection": 0.0, "two_way": 0.0}
    elif len(features) == 1:  # the target and one column: their 2-way histogram, no tree to choose
        shares = {"one_way": 0.5, "selection": 0.0, "two_way": 0.5}
    else:
        shares = STAGE_SHARES
    budget = {stage: (rho * share if private else 1e12) for stage, share in shares.items()}
    spent = dict.fromkeys(shares, 0.0)
    measured: list[tuple[tuple[str, ...], np.ndarray, float]] = []

    def measure(clique: tuple[str, ...], rho_each: float, stage: str) -> np.ndarray:
        noisy, scale, cost = release_histogram(_counts(codes, sizes, clique), rho_each)
        spent[stage] += cost
        measured.append((clique, noisy, scale))
        return noisy

    rho_one_way = budget["one_way"] / len(columns)
    one_way: dict[str, np.ndarray] = {}
    for i, column in enumerate(columns):
        spec = column.spec
        if not is_released(spec):
            continue
        assert isinstance(spec, NumericColumn)
        noisy, scale, cost = release_histogram(histogram_counts(spec, data[spec.name]), rho_one_way)
        spent["one_way"] += cost
        weights = released_weights(noisy, scale)
        starts = released_groups(spec, weights)
        coarse = np.concatenate([[noisy[0]], np.add.reduceat(noisy[1:], starts[:-1])])
        empty = released_empty(weights[1:], coarse[1:], starts, scale)
        columns[i] = mst_column(spec, starts, weights[1:], empty)
        coarse[1:][~columns[i].allowed[1:]] = 0.0  # mbi is told what sampling will do
        # A coarse count sums up to max(run) noisy fine counts: mbi weighs it by the widest run's noise.
        measured.append(((spec.name,), coarse, scale * math.sqrt(float(np.diff(starts).max()))))
        one_way[spec.name] = coarse
    sizes = {c.spec.name: c.size for c in columns}
    codes = encode(columns, data)
    for name in sizes:
        if name not in one_way:
            one_way[name] = measure((name,), rho_one_way, "one_way")
    edges: list[tuple[str, str]] = []
    if len(features) > 1:
        edges, spent["selection"] = _select_tree(
            codes, {n: sizes[n] for n in features}, {n: one_way[n] for n in features}, budget["selection"]
        )
    cliques: list[tuple[str, ...]] = [(hub, *edge) if hub else edge for edge in edges]
    if hub is not None and not edges:
        cliques = [(hub, features[0])]
    for clique in cliques:
        measure(clique, budget["two_way"] / len(cliques), "two_way")
    mbi = _mbi()
    mbi_domain = mbi.Domain(list(sizes), list(sizes.values()))
    measurements = [mbi.LinearMeasurement(noisy, clique, stddev=scale) for clique, noisy, scale in measured]
    fitted = mbi.estimation.MirrorDescent().estimate(mbi_domain, measurements, iters=iterations)

    def table(*names: str) -> np.ndarray:
        return np.asarray(fitted.project(names).datavector(flatten=False), dtype=float)

    model = DPMST(domain, columns, edges, {}, target=hub)
    first = hub or model.root
    model.marginals["root"] = (first, table(first))
    if hub is not None:
        model.marginals[(hub, model.root)] = table(hub, model.root)
    for parent, child in model._plan():
        model.marginals[(parent, child)] = table(parent, child) if hub is None else table(hub, parent, child)
    return model, spent
