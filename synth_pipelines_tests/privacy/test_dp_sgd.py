"""The DP-SGD loop does what its accounting assumes: empty batches step, noise has the stated variance,
public numbers come from the row estimate alone, and the trained models stay within ε."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from synth_pipelines.training.dp.neural import DPSGD, DPSGDPlan, plan_dp_sgd, train_dp_neural, train_neural


@pytest.fixture(scope="module")
def adult_schema(adult):
    """The private schema of 500 Adult rows, its domain drafted from those rows (public for the test)."""
    from synth_pipelines.core.request import TableSchema
    from synth_pipelines.core.table_schema import draft_schema
    from synth_pipelines.privacy.domain import fit_private_schema

    data = adult.head(500).reset_index(drop=True)
    return data, fit_private_schema(TableSchema(**draft_schema(data)), data, 0.5)


def _state(network: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in network.parameters()])


@pytest.mark.parametrize("name", ["dp_tvae", "dp_ctgan"])
def test_empty_poisson_batches_still_take_a_noisy_counted_step(adult_schema, name: str) -> None:
    """With no row at all every batch is empty; the analysis still assumes `steps` noisy steps.

    Two runs from the same initialisation must end apart (only the noise can move them), and
    the accountant must have counted every planned step.
    """
    _, schema = adult_schema
    empty = np.zeros((0, sum(schema.widths)), dtype=np.float32)
    ends, records = [], []
    for _ in range(2):
        torch.manual_seed(0)
        network, record, _ = train_neural(name, empty, schema, 1, 50, "cpu", 1.0, 1e-5, 500.0)
        ends.append(_state(network))
        records.append(record)
    plan = plan_dp_sgd(1, 50, 500.0, 1.0, 1e-5)
    assert records[0]["steps"] == records[0]["planned_steps"] == plan.steps == 10
    assert not torch.allclose(ends[0], ends[1])
    if name == "dp_tvae":  # the same empty run without DP is deterministic: the difference above is the noise
        plain = []
        for _ in range(2):
            torch.manual_seed(0)
            network, _, _ = train_neural(name, empty, schema, 1, 50, "cpu", 1.0, 1e-5, 500.0, private=False)
            plain.append(_state(network))
        torch.testing.assert_close(plain[0], plain[1])


def test_the_noise_added_in_a_step_has_the_stated_variance() -> None:
    """Zero clipped sum in, noise out: its variance is (σ C / expected batch size)² per coordinate."""
    plan = DPSGDPlan(sample_rate=0.1, steps=1, expected_batch_size=40.0, noise_multiplier=1.3, max_grad_norm=0.7)
    weight = nn.Parameter(torch.zeros(400, 500))
    weight.grad = torch.zeros_like(weight)
    runner = DPSGD(plan)
    runner.release([weight])
    noise = weight.grad.double()
    stated = (1.3 * 0.7 / 40.0) ** 2
    assert float(noise.var()) == pytest.approx(stated, rel=0.03)
    assert abs(float(noise.mean())) < 4 * (stated / noise.numel()) ** 0.5
    assert runner.steps_counted == 1
    # The noise comes from a secret seed: the global seed (e.g. a request's) does not fix it.
    draws = []
    for _ in range(2):
        torch.manual_seed(0)
        again = nn.Parameter(torch.zeros(400, 500))
        DPSGD(plan).release([again])
        draws.append(again.grad)
    assert not torch.equal(draws[0], draws[1])


def test_the_poisson_sample_includes_each_row_with_the_planned_rate() -> None:
    plan = plan_dp_sgd(2, 100, 1000.0, 1.0, 1e-5)
    assert plan.sample_rate == pytest.approx(0.1) and plan.steps == 20 and plan.expected_batch_size == 100
    sizes = [len(index) for index in DPSGD(plan).batches(5000)]
    assert len(sizes) == 20
    assert np.mean(sizes) == pytest.approx(500, rel=0.05)  # q · rows actually there, not the estimate
    assert len(set(sizes)) > 1  # Poisson, not fixed-size batches
    with pytest.raises(ValueError, match="rows_estimate"):
        plan_dp_sgd(2, 100, 0.0, 1.0, 1e-5)


def test_rate_steps_and_noise_do_not_depend_on_the_row_count(adult_schema) -> None:
    """D and D plus one row, the same row estimate: every released training number is identical."""
    from synth_pipelines.core.request import SynthesizerSpec

    data, schema = adult_schema
    neighbour = pd.concat([data, data.tail(1)], ignore_index=True)
    spec = SynthesizerSpec(name="dp_tvae", epochs=1, batch_size=100)
    released = []
    for frame in (data, neighbour):
        rng = np.random.default_rng(0)
        _, spent, delta, training, _ = train_dp_neural(frame, schema, spec, 1.0, 1e-6, "cpu", 0, rng, 480.0)
        released.append((spent, delta, training))
    assert released[0] == released[1]
    assert released[0][2]["sampling_rate"] == pytest.approx(100 / 480.0)
    assert released[0][2]["steps"] == 5


@pytest.mark.parametrize("name", ["dp_tvae", "dp_ctgan"])
def test_dp_models_train_on_adult_within_the_target_epsilon(adult_schema, name: str) -> None:
    from synth_pipelines.core.request import SynthesizerSpec

    data, schema = adult_schema
    target = 1.5
    spec = SynthesizerSpec(name=name, epochs=2, batch_size=100)
    model, spent, delta, training, curve = train_dp_neural(
        data, schema, spec, target, 1e-6, "cpu", 0, np.random.default_rng(1), schema.rows_estimate
    )
    assert 0.9 * target <= spent <= target  # within the target, and not wasting most of it
    assert delta == 1e-6
    assert training["steps"] == int(np.ceil(2 / training["sampling_rate"] - 1e-9))
    assert training["noise_multiplier"] > 0.5
    assert len(curve) == 2 and all(np.isfinite(list(point.values())).all() for point in curve)
    assert not any(module._forward_hooks for module in model.network.modules())  # the saved network is clean
    rows = model.sample(200, seed=3)
    assert list(rows.columns) == schema.order and len(rows) == 200
