"""dp_mst: its domain is the schema's, its ε is the request's, its noise is secret, its sampling is the seed's."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_pipelines.core.request import PrivacySpec, RequestError, SynthesizerSpec, TableSchema, parse_request
from synth_pipelines.privacy.domain import domain_from_schema
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines.training.dp import fit_dp_model
from synth_pipelines.training.dp.mst import MST_BINS, coarse_groups, encode, is_released, mst_column
from synth_pipelines.training.synthesizers import save_model

from .conftest import adult_schema_dict, load_adult

SPEC = SynthesizerSpec(name="dp_mst", epochs=50)


@pytest.fixture(scope="module")
def mst(adult, adult_schema):
    return fit_dp_model(adult, adult_schema, SPEC, PrivacySpec(epsilon=1.0))


def test_slots_are_a_function_of_the_schema_alone(adult, adult_schema) -> None:
    domain = domain_from_schema(adult_schema)
    columns = [mst_column(spec) for spec in domain.columns]
    schema_columns = adult_schema_dict()["parameters"]["tables"]["data"]["columns"]
    for column in columns:
        params = schema_columns[column.spec.name]
        if "category_values" in params:  # null, each declared value, "other"
            assert column.size == len(params["category_values"]) + 2
            assert not column.allowed[-1]  # "other" is never generated
        else:
            assert column.size <= max(MST_BINS + 2, int(params["max_value"] - params["min_value"]) + 2)
    # A row far outside the domain still lands in a declared slot: it moves a count, never the structure.
    odd = adult.head(3).copy()
    odd["age"] = [10**9, -(10**9), None]
    odd["workclass"] = ["never-seen", None, "Private"]
    codes = encode(columns, odd)
    for column in columns:
        assert ((codes[column.spec.name] >= 0) & (codes[column.spec.name] < column.size)).all()


def test_a_spike_at_the_minimum_keeps_its_own_bin(adult_schema) -> None:
    (gain,) = [s for s in domain_from_schema(adult_schema).columns if s.name == "capital_gain"]
    starts = coarse_groups(gain)
    assert starts[0] == 0 and starts[1] == 1 and len(starts) == MST_BINS + 2


def test_the_fit_charges_the_requests_epsilon_and_states_each_stage(mst) -> None:
    privacy = mst.training_record["privacy"]
    assert 0.99 <= privacy["epsilon_total"] <= 1.0
    assert privacy["epsilon_total"] == pytest.approx(sum(privacy["epsilon_by_stage"].values()))
    stages = privacy["rho_by_stage"]
    assert set(stages) == {"one_way", "selection", "two_way"}
    assert max(stages.values()) == pytest.approx(min(stages.values()), rel=1e-6)  # MST's thirds
    assert privacy["rho"] == pytest.approx(sum(stages.values()))
    assert len(privacy["tree"]) == len(mst.schema.columns) - 1  # a spanning tree over the modelled columns


def test_everything_the_model_can_emit_is_declared(mst, adult) -> None:
    schema = adult_schema_dict()["parameters"]["tables"]["data"]["columns"]
    rows = mst.sample(4000, seed=2)
    for name, params in schema.items():
        values = rows[name].dropna()
        if "category_values" in params:
            assert set(values) <= set(params["category_values"]), name
        else:
            assert values.between(params["min_value"], params["max_value"]).all(), name
        if params.get("missing_values_proportion", 1.0) == 0:
            assert rows[name].notna().all(), name
    # What the model holds besides the schema: column names, numbers (the noisy tree marginals), no text.
    for key, table in mst.model.marginals.items():
        names = [table[0]] if key == "root" else list(key)
        assert set(names) <= set(schema)
        array = table[1] if key == "root" else table
        assert np.asarray(array).dtype == np.float64


def _narrow(names: list[str]) -> TableSchema:
    """Adult's public schema cut to a few columns: a small graph compiles in seconds."""
    schema = adult_schema_dict()
    for part in (schema["metadata"]["tables"]["data"], schema["parameters"]["tables"]["data"]):
        part["columns"] = {k: v for k, v in part["columns"].items() if k in names}
    return TableSchema.model_validate(schema)


NARROW = ["age", "workclass", "capital_gain", "sex", "income"]


def test_the_noise_and_the_tree_are_not_the_request_seeds(adult) -> None:
    schema = _narrow(NARROW)
    fits = [fit_dp_model(adult.head(400), schema, SPEC, PrivacySpec(epsilon=0.5), seed=7) for _ in range(2)]
    first, second = (m.model.marginals["root"][1] for m in fits)
    assert not np.array_equal(first, second)  # same request seed, fresh noise


def _structure(model) -> dict:
    record = {
        k: v
        for k, v in model.training_record["privacy"].items()
        if k not in ("epsilon_total", "epsilon_by_stage", "tree", "rho")
    }
    # A wide numeric column's coarse bins are cut from its released histogram: they vary as the noise does
    # (test_released_bins_read_the_rows_only_through_the_release); the rest is fixed by the schema.
    columns = model.model.columns
    return {
        "record": json.loads(json.dumps(record, default=str)),
        "slots": [
            (c.spec.name, "released")
            if is_released(c.spec)
            else (c.spec.name, c.size, c.allowed.tolist(), c.group_starts.tolist())
            for c in columns
        ],
        # Which pairs the noisy tree joins, and with released bins how wide each table is, follow the noise.
        "marginal_shapes": sorted(np.ndim(v[1] if k == "root" else v) for k, v in model.model.marginals.items())
        if any(is_released(c.spec) for c in columns)
        else {str(k): np.shape(v[1] if k == "root" else v) for k, v in model.model.marginals.items()},
        "dtypes": [str(t) for t in model.sample(50, seed=1).dtypes],
    }


def test_released_bins_read_the_rows_only_through_the_release(adult, monkeypatch) -> None:
    """With the release fixed, D and its neighbours cut the same bins; with the real one, the bins follow the data."""
    from synth_pipelines.training.dp import mst

    schema = _narrow(NARROW)
    data = adult.head(500)[NARROW].reset_index(drop=True)
    neighbour = pd.concat([data, data.iloc[[0]].assign(capital_gain=99_999)], ignore_index=True)
    other = adult.tail(700)[NARROW].assign(capital_gain=lambda f: 99_999 - f["capital_gain"]).reset_index(drop=True)

    def starts(frame: pd.DataFrame) -> tuple[list[int], list[float]]:
        model = fit_dp_model(frame, schema, SPEC, PrivacySpec(epsilon=1.0))
        (gain,) = [c for c in model.model.columns if c.spec.name == "capital_gain"]
        return gain.group_starts.tolist(), gain.fine_weights.tolist()

    real = mst.release_histogram
    # Noise and counts replaced by one data-free vector: whatever the rows, the same release.
    monkeypatch.setattr(
        mst, "release_histogram", lambda counts, rho: (np.linspace(1.0, 50.0, len(counts)),) + real(counts, rho)[1:]
    )
    assert starts(data) == starts(neighbour) == starts(other)  # a neighbour, and a table unlike it
    monkeypatch.setattr(mst, "release_histogram", real)
    # With the real release, bins are narrow where the values are: on all of Adult at ε = 1 no released bin of
    # fnlwgt holds a quarter as many rows as the fullest of the schema's fixed runs (0.05 against 0.24).
    full = load_adult(None)
    wide = _narrow(["age", "fnlwgt", "income"])
    (weight,) = [s for s in domain_from_schema(wide).columns if s.name == "fnlwgt"]
    assert is_released(weight)
    fitted = fit_dp_model(full, wide, SPEC, PrivacySpec(epsilon=1.0))
    (column,) = [c for c in fitted.model.columns if c.spec.name == "fnlwgt"]

    def fullest(binned) -> float:
        slots = encode([binned], full)["fnlwgt"]
        beyond = slots[slots > 1]  # past the null slot and the first fine bin (its own bin)
        return float(np.bincount(beyond).max() / len(beyond))

    assert fullest(column) < 0.5 * fullest(mst_column(weight)), (fullest(column), fullest(mst_column(weight)))


@pytest.mark.parametrize("target", [None, "income"])
def test_neighbouring_datasets_give_the_same_structure(adult, target: str | None) -> None:
    """D, D plus an outlier row, D plus a row of nulls, D minus a row: only noise (and the noisy tree) differ."""
    schema = _narrow(NARROW)
    data = adult.head(500)[NARROW].reset_index(drop=True)
    extreme = data.iloc[[0]].assign(age=10**12, capital_gain=-(10**12), workclass="never-seen", sex="?")
    nulls = data.iloc[[1]].copy()
    nulls.loc[:, :] = None
    base = _structure(fit_dp_model(data, schema, SPEC, PrivacySpec(epsilon=1.0), target=target))
    assert base["record"]["target"] == target
    for how, neighbour in (
        ("extreme", pd.concat([data, extreme], ignore_index=True)),
        ("nulls", pd.concat([data, nulls], ignore_index=True)),
        ("removed", data.drop(index=3).reset_index(drop=True)),
    ):
        assert _structure(fit_dp_model(neighbour, schema, SPEC, PrivacySpec(epsilon=1.0), target=target)) == base, how


TARGETED = ["age", "education", "occupation", "relationship", "sex", "income"]


def _dependence_lost(real: pd.DataFrame, rows: pd.DataFrame, column: str, target: str) -> float:
    """TVD of the (column, target) table, real vs synthetic, over the TVD of real vs its independent product."""

    def levels(frame: pd.DataFrame) -> pd.Series:
        values = frame[column]
        return (values // 10).astype("Int64").astype(str) if values.dtype.kind in "fiu" else values.astype(str)

    table = pd.crosstab(levels(real), real[target], normalize=True)
    synthetic = pd.crosstab(levels(rows), rows[target], normalize=True).reindex_like(table).fillna(0.0)
    independent = np.outer(table.sum(axis=1), table.sum(axis=0))
    return float(np.abs(synthetic.to_numpy() - table.to_numpy()).sum() / np.abs(independent - table.to_numpy()).sum())


def test_a_target_and_one_column_spend_half_on_their_pair(adult) -> None:
    schema = _narrow(["sex", "income"])
    model = fit_dp_model(adult, schema, SPEC, PrivacySpec(epsilon=1.0), target="income")
    privacy = model.training_record["privacy"]
    assert privacy["target"] == "income" and privacy["tree"] == []
    stages = privacy["rho_by_stage"]
    assert stages["selection"] == 0 and stages["two_way"] == pytest.approx(stages["one_way"], rel=0.01)
    rows = model.sample(2000, seed=2)
    assert set(rows["income"].dropna()) <= {"<=50K", ">50K"} and set(rows["sex"].dropna()) <= {"Male", "Female"}


def test_a_target_is_measured_with_every_column() -> None:
    """quality.target_column joins the target to each tree edge: its dependence on every column is measured,
    where the plain tree keeps it only along the tree's path (age ~ income came out near independence on Adult).
    All of Adult: its 3-way histograms need the rows (on 2,000 rows their noise outweighs the counts)."""
    adult = load_adult(None)
    schema = _narrow(TARGETED)
    spec = SynthesizerSpec(name="dp_mst", epochs=500)
    lost = {}
    for target in ("income", None):
        model = fit_dp_model(adult, schema, spec, PrivacySpec(epsilon=20.0), target=target)
        privacy = model.training_record["privacy"]
        assert privacy["target"] == target and 19.8 <= privacy["epsilon_total"] <= 20.0
        assert "income" not in {name for edge in privacy["tree"] for name in edge} or target is None
        if target is not None:  # every table the sampler walks is target × parent × child
            tables = [v for k, v in model.model.marginals.items() if k != "root" and k[0] != target]
            size = {c.spec.name: c.size for c in model.model.columns}[target]
            assert tables and all(np.ndim(t) == 3 and np.shape(t)[0] == size for t in tables)
        rows = model.sample(8000, seed=5)
        lost[target] = {c: _dependence_lost(adult, rows, c, "income") for c in TARGETED if c != "income"}
    # Measured (target): at most 0.37 on Adult at ε = 20, the rest 8,000 rows' sampling error. Inferred along
    # the tree (no target): education and occupation came out at 0.97 and 0.89, near independence.
    assert max(lost["income"].values()) < 0.5, lost
    assert max(lost[None].values()) > 0.75, lost


@pytest.mark.parametrize(("column", "key"), [("hours_per_week", "max_value"), ("race", "category_values")])
def test_a_schema_without_a_columns_domain_is_refused_by_name(column: str, key: str) -> None:
    schema = adult_schema_dict()
    del schema["parameters"]["tables"]["data"]["columns"][column][key]
    request = {
        "request_id": "mst",
        "dataset": {"uri": "adult.csv"},
        "synthesizer": {"name": "dp_mst"},
        "privacy": {"epsilon": 1.0},
        "schema": schema,
        "rows": 100,
        "requester": "tester@example.org",
    }
    with pytest.raises(RequestError) as refused:
        parse_request(request)
    assert f"{column}.{key}: is required" in str(refused.value)


def test_a_single_modelled_column_spends_everything_on_its_histogram(adult) -> None:
    model = fit_dp_model(adult[["age"]], _narrow(["age"]), SPEC, PrivacySpec(epsilon=1.0))
    stages = model.training_record["privacy"]["rho_by_stage"]
    assert stages["selection"] == stages["two_way"] == 0.0
    assert 0.99 <= model.training_record["privacy"]["epsilon_total"] <= 1.0
    assert model.sample(100, seed=1)["age"].between(0, 100).all()


SAMPLE_SCRIPT = """
import hashlib, sys
from pathlib import Path
from synth_pipelines.generation.export import export_chunks, write_chunk
from synth_pipelines.training.synthesizers import chunk_seed, load_model, sample_chunk
model = load_model(Path(sys.argv[1]))
out = Path(sys.argv[2])
kinds = model.schema.kinds()
paths = []
for index, rows in enumerate((700, 700, 100)):
    path = out / f"chunk-{index}.parquet"
    write_chunk(sample_chunk(model, rows, chunk_seed(7, index), 0), kinds, path)
    paths.append(path)
print(export_chunks(paths, kinds, out / "export.parquet", "parquet", "zstd").sha256)
"""


def test_the_same_seed_gives_the_same_export_bytes_in_fresh_processes(mst, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    save_model(mst, path)
    digests = []
    for run in ("a", "b"):
        out = tmp_path / run
        out.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", SAMPLE_SCRIPT, str(path), str(out)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])},
        )
        digests.append(done.stdout.split()[-1])
        assert hashlib.sha256((out / "export.parquet").read_bytes()).hexdigest() == digests[-1]
    assert digests[0] == digests[1]
    other = io.BytesIO()
    mst.sample(1500, seed=8).to_parquet(other)
    assert hashlib.sha256(other.getvalue()).hexdigest() != digests[0]


def test_the_model_keeps_the_pairs_it_measured(adult) -> None:
    """Fidelity, coarsely: with a large ε the tree's strongest pair is kept (relationship ~ sex)."""
    schema = _narrow(["relationship", "sex", "marital_status", "income"])
    model = fit_dp_model(adult, schema, SynthesizerSpec(name="dp_mst", epochs=500), PrivacySpec(epsilon=20.0))
    rows = model.sample(4000, seed=5)
    real = pd.crosstab(adult["relationship"], adult["sex"], normalize=True)
    synthetic = pd.crosstab(rows["relationship"], rows["sex"], normalize=True).reindex_like(real).fillna(0)
    independent = np.outer(real.sum(axis=1), real.sum(axis=0))
    assert np.abs(synthetic.to_numpy() - real.to_numpy()).sum() < 0.5 * np.abs(independent - real.to_numpy()).sum()
    assert json.dumps(model.training_record["privacy"]["tree"])  # the tree is recorded (a DP release)


@pytest.mark.parametrize("name", ["weather", "flights"])
def test_real_corpus_tables_fit_within_their_public_domain(name: str) -> None:
    """Real tables nobody prepared (nulls, datetimes, floats, an id), with schemas from their documentation only."""
    import importlib.util

    from synth_pipelines.data import corpus

    # benchmarks/ is scripts, not a package (and a site-packages `benchmarks` shadows the name)
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "corpus.py"
    spec = importlib.util.spec_from_file_location("corpus_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema_dict = module.public_schema(name)
    schema = TableSchema.model_validate(schema_dict)
    data = corpus.load(name, rows=1500)
    model = fit_dp_model(data, schema, SPEC, PrivacySpec(epsilon=1.0))
    assert 0.99 <= model.training_record["privacy"]["epsilon_total"] <= 1.0
    rows = model.sample(1000, seed=3)
    assert list(rows.columns) == list(schema_dict["metadata"]["tables"]["data"]["columns"])
    for column, params in schema_dict["parameters"]["tables"]["data"]["columns"].items():
        values = rows[column].dropna()
        if "category_values" in params:
            assert set(values) <= set(params["category_values"]), column
        elif "min_value" in params:
            assert values.between(params["min_value"], params["max_value"]).all(), column
        else:
            start, end = pd.Timestamp(params["start_timestamp"]), pd.Timestamp(params["end_timestamp"])
            assert values.between(start, end).all(), column
    if "tailnum" in data:  # an id column is made up, never copied
        assert not set(rows["tailnum"]) & set(data["tailnum"].dropna())


def test_a_bin_the_release_finds_empty_is_never_generated(adult, monkeypatch) -> None:
    """A release whose tail past capital_loss's last clear count holds counts each under the floor, summing to
    what noise over so many bins would: no synthetic value lands there (mbi's share of it was drawn over them)."""
    from synth_pipelines.training.dp import mst

    schema = _narrow(["age", "capital_loss", "income"])
    data = adult.head(3000)[["age", "capital_loss", "income"]].reset_index(drop=True)
    (loss,) = [s for s in domain_from_schema(schema).columns if s.name == "capital_loss"]
    assert is_released(loss)
    real = mst.release_histogram
    tails: list[np.ndarray] = []

    def release(counts, rho):  # the real counts (noise off) with the real scale; the tail is the test's
        _, scale, cost = real(counts, rho)
        noisy = np.asarray(counts, dtype=float).copy()
        if len(counts) == len(loss.edges):  # capital_loss's released fine histogram (null, fine bins)
            tail = np.arange(np.flatnonzero(noisy[1:] > mst.RELEASE_FLOOR * scale)[-1] + 2, len(noisy))
            noisy[tail] = 1.9 * scale / np.sqrt(len(tail))  # under the floor each, sum 1.9 σ √(bins)
            tails.append(tail - 1)
        return noisy, scale, cost

    monkeypatch.setattr(mst, "release_histogram", release)
    model = fit_dp_model(data, schema, SynthesizerSpec(name="dp_mst", epochs=300), PrivacySpec(epsilon=1.0))
    (column,) = [c for c in model.model.columns if c.spec.name == "capital_loss"]
    (tail,) = tails
    bins = zip(column.group_starts[:-1], column.group_starts[1:], strict=True)
    assert any(set(range(a, b)) <= set(tail) for a, b in bins), "no coarse bin of the tail alone"
    rows = model.sample(5000, seed=4)
    beyond = rows["capital_loss"] > loss.from_grid(loss.edges[tail[0]]) + 1  # past the last real value's bin
    assert beyond.mean() == 0, f"{beyond.mean():.3f} of the values are in bins the release found empty"


def test_sampled_rows_hold_the_models_marginal_to_a_row(mst) -> None:
    """Every slot of the first column gets floor(n p) or one more of n rows (Private-PGM's rounding), where
    n independent draws miss by their sampling noise (about √(n p) rows)."""
    from synth_pipelines.training.dp.mst import _allowed

    model = mst.model
    name, table = model.marginals["root"]
    (column,) = [c for c in model.columns if c.spec.name == name]
    expected = 20_000 * _allowed(table, column)[0]
    rows = model.sample(20_000, seed=11)
    counts = np.bincount(encode([column], rows)[name], minlength=column.size)
    assert np.abs(counts - expected).max() <= 1.0, np.abs(counts - expected).max()
