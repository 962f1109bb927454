"""DP-SGD's fast paths give what the plain ones give: flat prefetched noise, the discriminator's paired halves."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from synth_pipelines.training.dp.neural import DPSGD, BookKeepingClipper, DPSGDPlan


def test_every_parameter_gets_fresh_noise_of_the_stated_variance_at_every_step() -> None:
    plan = DPSGDPlan(sample_rate=0.1, steps=3, expected_batch_size=25.0, noise_multiplier=1.1, max_grad_norm=0.5)
    params = [nn.Parameter(torch.zeros(300, 200)), nn.Parameter(torch.zeros(200)), nn.Parameter(torch.zeros(50, 300))]
    runner = DPSGD(plan)
    stated = (1.1 * 0.5 / 25.0) ** 2
    steps = []
    for _ in range(plan.steps):
        for param in params:
            param.grad = torch.zeros_like(param)
        runner.release(params)
        steps.append([param.grad.clone() for param in params])
        for grad in steps[-1]:
            # Five standard errors of a sample variance: sqrt(2 / n) relative.
            assert float(grad.double().var()) == pytest.approx(stated, rel=5 * (2 / grad.numel()) ** 0.5)
    # No coordinate repeats another's draw: within a step across parameters, or across steps.
    flat = [torch.cat([g.flatten() for g in step]) for step in steps]
    assert not torch.equal(flat[0], flat[1]) and not torch.equal(flat[1], flat[2])
    assert float(torch.corrcoef(torch.stack(flat))[0, 1].abs()) < 0.02
    assert runner.steps_counted == plan.steps
    # The last step needs no draw after it: the background thread is gone.
    assert runner._pool is None and runner._pending is None


def test_the_clipped_sum_is_kept_under_the_noise() -> None:
    plan = DPSGDPlan(sample_rate=0.1, steps=2, expected_batch_size=10.0, noise_multiplier=1e-6, max_grad_norm=1.0)
    weight = nn.Parameter(torch.zeros(4, 3))
    runner = DPSGD(plan)
    for _ in range(plan.steps):
        weight.grad = torch.full((4, 3), 5.0)
        runner.release([weight])
        torch.testing.assert_close(weight.grad, torch.full((4, 3), 0.5), atol=1e-4, rtol=0)


def test_paired_halves_clip_as_the_groups_they_stand_for() -> None:
    """Row j and row j + n/2 as one sample: the same norms and clipped sums as groups [0..n/2) twice."""
    torch.manual_seed(5)
    network = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)).double()
    rows = torch.randn(40, 6, dtype=torch.float64) * 3.0
    labels = torch.cat([torch.ones(20), torch.zeros(20)]).double()
    results = []
    for mode in ("groups", "halves"):
        clipper = BookKeepingClipper(network, max_grad_norm=0.3)
        with clipper.recording():
            losses = F.binary_cross_entropy_with_logits(network(rows)[:, 0], labels, reduction="none")
        if mode == "groups":
            norms = clipper.backward(losses, groups=torch.cat([torch.arange(20), torch.arange(20)]))
        else:
            norms = clipper.backward(losses, halves=True)
        results.append((norms, [p.grad.clone() for p in network.parameters()]))
        clipper.close()
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-12)
    assert float((results[0][0] > 0.3).float().mean()) > 0.2  # some samples were clipped
    for grouped, halved in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(grouped, halved, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        BookKeepingClipper(network, 0.3).backward(losses[:39], halves=True)
