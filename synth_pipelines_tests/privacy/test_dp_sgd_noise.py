"""DP-SGD's noise: one flat draw per step, prefetched in a background thread, has the stated law on every parameter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synth_pipelines.training.dp.neural import DPSGD, DPSGDPlan


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
