"""Book-keeping clipping gives exactly the clipped sum of per-sample gradients, computed the slow way."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from synth_pipelines.privacy.neural import _TVAE, BookKeepingClipper, _mlp, _tvae_loss


def _reference(module: nn.Module, loss_of_row, rows: torch.Tensor, max_norm: float) -> dict[str, torch.Tensor]:
    """One backward pass per row, each row's whole gradient clipped to max_norm, then summed."""
    params = dict(module.named_parameters())
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    for i in range(rows.shape[0]):
        grads = torch.autograd.grad(loss_of_row(i), list(params.values()), allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params.values(), strict=True)]
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        factor = min(1.0, max_norm / (float(norm) + 1e-6))
        for name, grad in zip(params, grads, strict=True):
            total[name] += factor * grad
    return total


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clipped_sum_of_a_discriminator_matches_per_sample_clipping(max_norm: float) -> None:
    torch.manual_seed(0)
    network = nn.Sequential(_mlp([7, 16, 16], final_activation=True), nn.Linear(16, 1)).double()
    rows = torch.randn(12, 7, dtype=torch.float64)
    labels = (torch.rand(12) > 0.5).double()

    def losses_of(batch, target):
        return F.binary_cross_entropy_with_logits(network(batch)[:, 0], target, reduction="none")

    expected = _reference(network, lambda i: losses_of(rows[i : i + 1], labels[i : i + 1]).sum(), rows, max_norm)
    clipper = BookKeepingClipper(network, max_norm)
    with clipper.recording():
        losses = losses_of(rows, labels)
    norms = clipper.backward(losses)
    for name, param in network.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-9, atol=1e-12, msg=name)
    if max_norm == 0.05:
        assert (norms > max_norm).all()  # every row was clipped: the test exercises the factor
    if max_norm == 1e6:
        # Nothing clipped: the sum is the plain gradient of the summed loss.
        plain = torch.autograd.grad(losses_of(rows, labels).sum(), list(network.parameters()))
        for got, want in zip((p.grad for p in network.parameters()), plain, strict=True):
            torch.testing.assert_close(got, want)


def test_clipped_sum_of_the_tvae_matches_per_sample_clipping() -> None:
    """The TVAE's loss mixes layers through the reparameterisation; its noise is fixed per row here."""
    torch.manual_seed(1)
    spans = [(0, 1, True), (1, 4, False), (4, 5, True)]
    vae = _TVAE(5, 2).double()
    rows = torch.cat([torch.randn(9, 1), F.one_hot(torch.randint(0, 3, (9,)), 3), torch.randn(9, 1)], dim=1).double()
    noise = torch.randn(9, 64, dtype=torch.float64)

    def losses_of(index: slice) -> torch.Tensor:
        batch = rows[index]
        mean, log_var = vae.encoder(batch).chunk(2, dim=1)
        latent = mean + noise[index] * torch.exp(0.5 * log_var)
        log_sigma = vae.log_sigma(torch.zeros(batch.shape[0], 1, dtype=torch.float64))
        return _tvae_loss((vae.decoder(latent), mean, log_var, log_sigma), batch, spans)

    expected = _reference(vae, lambda i: losses_of(slice(i, i + 1)).sum(), rows, 0.5)
    clipper = BookKeepingClipper(vae, 0.5)
    with clipper.recording():
        losses = losses_of(slice(None))
    clipper.backward(losses)
    for name, param in vae.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-9, atol=1e-12, msg=name)


def test_a_layer_called_twice_or_a_parameter_outside_a_linear_layer_is_refused() -> None:
    layer = nn.Linear(3, 3)
    clipper = BookKeepingClipper(layer, 1.0)
    with pytest.raises(RuntimeError, match="called once"), clipper.recording():
        layer(layer(torch.randn(4, 3)))

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)
            self.scale = nn.Parameter(torch.ones(1))

    with pytest.raises(ValueError, match="scale"):
        BookKeepingClipper(Scaled(), 1.0)


@pytest.mark.parametrize("name", ["dp_tvae", "dp_ctgan"])
def test_both_clippings_train_under_the_same_accounting(adult, adult_metadata, name: str) -> None:
    """The benchmark's comparison is fair: Opacus' ghost clipping and ours spend the same budget the same way."""
    import numpy as np

    from synth_pipelines.privacy import _preprocess
    from synth_pipelines.privacy.neural import encode, train_neural
    from synth_pipelines.request import PrivacySpec

    rng = np.random.default_rng(0)
    schema, _, _ = _preprocess(adult, adult_metadata, PrivacySpec(epsilon=1.0), 0.2, 1e-6, rng)
    encoded = encode(schema, adult, rng)
    records = {}
    for clipping in ("bookkeeping", "ghost"):
        network, record, curve = train_neural(name, encoded, schema, 2, 250, "cpu", 2.0, 1e-5, clipping=clipping)
        assert len(curve) == 2 and all(np.isfinite(list(point.values())).all() for point in curve)
        assert not any(module._forward_hooks for module in network.modules())  # the saved network is clean
        records[clipping] = record
    for key in ("epsilon", "noise_multiplier", "sampling_rate", "steps"):
        assert records["bookkeeping"][key] == pytest.approx(records["ghost"][key]), key
    assert records["bookkeeping"]["epsilon"] <= 2.0
    with pytest.raises(ValueError, match="clipping 'flat' is not allowed; allowed: bookkeeping, ghost"):
        train_neural(name, encoded, schema, 1, 250, "cpu", 2.0, 1e-5, clipping="flat")
