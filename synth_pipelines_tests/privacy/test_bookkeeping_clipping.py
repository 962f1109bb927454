"""Book-keeping clipping gives exactly the clipped sum of per-sample gradients, computed the slow way.

A sample is what one neighbour adds: a row (TVAE) or a real row with the fake row drawn
for it (the GAN's discriminator). The neighbouring-dataset test checks the property the
accountant assumes: adding one sample moves the clipped sum by at most C.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from synth_pipelines.training.dp.neural import (
    _TVAE,
    HIDDEN,
    BookKeepingClipper,
    _mlp,
    _tvae_loss,
    discriminator_backward,
)


def _reference(module: nn.Module, loss_of_sample, samples: int, max_norm: float) -> dict[str, torch.Tensor]:
    """One backward pass per sample, each sample's whole gradient clipped to max_norm, then summed."""
    params = dict(module.named_parameters())
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    for s in range(samples):
        grads = torch.autograd.grad(loss_of_sample(s), list(params.values()), allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params.values(), strict=True)]
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        factor = min(1.0, max_norm / (float(norm) + 1e-6))
        for name, grad in zip(params, grads, strict=True):
            total[name] += factor * grad
    return total


def _sample_norms(module: nn.Module, loss_of_sample, samples: int) -> torch.Tensor:
    norms = []
    for s in range(samples):
        grads = torch.autograd.grad(loss_of_sample(s), list(module.parameters()), allow_unused=True)
        norms.append(torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None)))
    return torch.stack(norms)


def _discriminator(width: int = 7, hidden: int = 16) -> nn.Module:
    return nn.Sequential(_mlp([width, hidden, hidden], final_activation=True), nn.Linear(hidden, 1)).double()


def _flat_grad(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in module.parameters()])


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clipped_sum_of_a_discriminator_matches_per_sample_clipping(max_norm: float) -> None:
    """Groups of one (the TVAE's layout): every row its own sample."""
    torch.manual_seed(0)
    network = _discriminator()
    rows = torch.randn(12, 7, dtype=torch.float64)
    labels = (torch.rand(12) > 0.5).double()

    def losses_of(batch, target):
        return F.binary_cross_entropy_with_logits(network(batch)[:, 0], target, reduction="none")

    expected = _reference(network, lambda i: losses_of(rows[i : i + 1], labels[i : i + 1]).sum(), 12, max_norm)
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


def test_pairs_of_real_and_fake_rows_are_clipped_as_one_sample() -> None:
    """`discriminator_backward` (the training step's code) against one autograd pass per (real, fake) pair."""
    torch.manual_seed(2)
    network = _discriminator()
    real = torch.randn(10, 7, dtype=torch.float64) * torch.linspace(0.1, 3.0, 10, dtype=torch.float64)[:, None]
    fake = torch.randn(10, 7, dtype=torch.float64)

    def pair_loss(i: int) -> torch.Tensor:
        logits = network(torch.stack([real[i], fake[i]]))[:, 0]
        return F.binary_cross_entropy_with_logits(
            logits, torch.tensor([1.0, 0.0], dtype=torch.float64), reduction="sum"
        )

    norms = _sample_norms(network, pair_loss, 10)
    max_norm = float(norms.median())
    assert (norms > max_norm).any() and (norms < max_norm).any()  # some pairs clipped, some not
    expected = _reference(network, pair_loss, 10, max_norm)
    clipper = BookKeepingClipper(network, max_norm)
    discriminator_backward(network, clipper, real, fake)
    for name, param in network.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-9, atol=1e-12, msg=name)


def test_arbitrary_groups_match_per_sample_clipping() -> None:
    """Groups of one to three rows, interleaved: the within-sample pairs are found wherever the rows sit."""
    torch.manual_seed(3)
    network = _discriminator()
    groups = torch.tensor([2, 0, 1, 2, 3, 0, 2, 4, 3, 1, 5])
    rows = torch.randn(len(groups), 7, dtype=torch.float64) * 2.0
    labels = (torch.rand(len(groups)) > 0.5).double()

    def losses_of(index):
        return F.binary_cross_entropy_with_logits(network(rows[index])[:, 0], labels[index], reduction="none")

    def sample_loss(s: int) -> torch.Tensor:
        return losses_of(torch.nonzero(groups == s).flatten()).sum()

    norms = _sample_norms(network, sample_loss, 6)
    max_norm = float(norms.median())
    expected = _reference(network, sample_loss, 6, max_norm)
    clipper = BookKeepingClipper(network, max_norm)
    with clipper.recording():
        losses = losses_of(slice(None))
    got_norms = clipper.backward(losses, groups=groups)
    torch.testing.assert_close(got_norms, norms, rtol=1e-9, atol=1e-12)
    for name, param in network.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-9, atol=1e-12, msg=name)


def test_adding_one_real_row_moves_the_discriminators_clipped_sum_by_at_most_c() -> None:
    """Neighbours B and B + (real row, its fake row), same weights and other fake rows: |Δ sum| ≤ C.

    The added rows are worst cases in the encoding's range (numeric scores at ±2, one-hot
    or extreme values). Clipping real and fake rows as separate samples (the old step) moves
    the sum by well over C on the same inputs: that is the bug this guards.
    """
    torch.manual_seed(0)
    width, max_norm = 6, 1.0
    network = _discriminator(width, HIDDEN)
    clipper = BookKeepingClipper(network, max_norm)
    real = torch.randn(20, width, dtype=torch.float64).clamp(-2, 2)
    fake = torch.randn(20, width, dtype=torch.float64).clamp(-2, 2)

    def separately(real_rows: torch.Tensor, fake_rows: torch.Tensor) -> torch.Tensor:
        rows = torch.cat([real_rows, fake_rows])
        labels = torch.cat([torch.ones(len(real_rows)), torch.zeros(len(fake_rows))]).double()
        with clipper.recording():
            logits = network(rows)[:, 0]
        clipper.backward(F.binary_cross_entropy_with_logits(logits, labels, reduction="none"))
        return _flat_grad(network)

    def jointly(real_rows: torch.Tensor, fake_rows: torch.Tensor) -> torch.Tensor:
        discriminator_backward(network, clipper, real_rows, fake_rows)
        return _flat_grad(network)

    extreme = torch.full((1, width), 2.0, dtype=torch.float64)
    onehot = torch.zeros(1, width, dtype=torch.float64)
    onehot[0, 1] = 1.0
    candidates = [(extreme, -extreme), (-extreme, extreme), (extreme, extreme), (extreme * 50, -extreme * 50)]
    candidates += [(onehot, -extreme), (torch.randn(1, width).double() * 3, torch.randn(1, width).double())]
    joint_moves, separate_moves = [], []
    for added_real, added_fake in candidates:
        for step, moves in ((jointly, joint_moves), (separately, separate_moves)):
            before = step(real, fake)
            after = step(torch.cat([real, added_real]), torch.cat([fake, added_fake]))
            moves.append(float((after - before).norm()))
    assert max(joint_moves) <= max_norm + 1e-6, joint_moves
    assert max(joint_moves) > 0.99 * max_norm  # a worst case reaches the bound: the test is not vacuous
    assert max(separate_moves) > 1.3 * max_norm, separate_moves


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

    expected = _reference(vae, lambda i: losses_of(slice(i, i + 1)).sum(), 9, 0.5)
    clipper = BookKeepingClipper(vae, 0.5)
    with clipper.recording():
        losses = losses_of(slice(None))
    clipper.backward(losses)
    for name, param in vae.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-9, atol=1e-12, msg=name)


def test_a_layer_called_twice_a_parameter_outside_a_linear_layer_or_bad_groups_are_refused() -> None:
    layer = nn.Linear(3, 3)
    clipper = BookKeepingClipper(layer, 1.0)
    with pytest.raises(RuntimeError, match="called once"), clipper.recording():
        layer(layer(torch.randn(4, 3)))
    with clipper.recording():
        losses = layer(torch.randn(4, 3)).sum(dim=1)
    with pytest.raises(ValueError, match="one sample id per row"):
        clipper.backward(losses, groups=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one fake row per real row"):
        discriminator_backward(layer, clipper, torch.randn(3, 3), torch.randn(2, 3))

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)
            self.scale = nn.Parameter(torch.ones(1))

    with pytest.raises(ValueError, match="scale"):
        BookKeepingClipper(Scaled(), 1.0)
