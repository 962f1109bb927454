"""DP-SGD synthesizers, TVAE- and CTGAN-style, trained on the private schema's encoding by an explicit DP-SGD loop.

Why not SDV's or ctgan's own models: they fit per-column Gaussian mixtures on the raw
data and keep the training table in a conditional sampler, neither of which is private.
Here a row is encoded through the released marginals (numeric → normal score, categorical
→ one-hot), so the encoding itself leaks nothing, and only DP-SGD sees the rows.

The DP-SGD loop is written out here (`plan_dp_sgd`, `DPSGD`) rather than taken from
Opacus' `make_private_with_epsilon`, because Opacus derives the sampling rate from the
loader (1 / len(loader) = batch / n), which makes the rate, the step count and everything
computed from them a function of the exact row count. Here every public number comes from
`rows_estimate`, a DP estimate of n the caller paid for: sampling rate q = min(1, batch /
rows_estimate), steps = ⌈epochs / q⌉, noise multiplier from Opacus' `get_noise_multiplier`
(RDP), accounting by Opacus' `RDPAccountant`, one `.step` per step. Each step draws a
Poisson batch (every row independently with probability q, from a secretly seeded
generator), takes the per-sample clipped gradient sum, adds N(0, (σC)²) to every
coordinate and divides by the public expected batch size q · rows_estimate; Adam then
steps. An empty batch is still a step: zero sum, noise, optimizer step, accountant step,
which is what the subsampled-Gaussian analysis assumes.

A sample is what one neighbour adds: a row for the TVAE; for the GAN's discriminator a
real row together with the fake row drawn for it (one fake per sampled real row), so the
pair's joint gradient is clipped to C. Clipping real and fake rows separately would let one
added row move the sum by 2C while the accountant assumes C. The clipped sums come from
book-keeping clipping (`BookKeepingClipper`; Bu et al., "Differentially private
optimization on large model at small cost", 2023): one backward pass gives each linear
layer's output gradients, the per-sample norms follow from them and the layer inputs
without materialising a per-sample gradient, and each weight's clipped sum is one matrix
product. GAN packing (pac) is 1: a packed sample would hold several real rows.

Secure noise: Opacus' `secure_mode=True` needs `torchcsprng`, whose last release (0.2.1,
2021) ships wheels for CPython 3.6-3.9 pinned to torch 1.8.1 and no source build; pip finds
no version for Python 3.11, and none would run on torch 2.x. So the noise is drawn through
Opacus' `_generate_noise(..., secure_mode=True)` directly: per coordinate it draws four
N(0, σ²) values and returns half their sum (still variance σ²), Opacus' mitigation of the
floating-point attack on Gaussian samplers (Holohan & Braghin 2021), from a torch
generator seeded with `secrets.randbits(63)`. What that does not give: a cryptographically
secure generator. torch's generators (Mersenne Twister on CPU, Philox on CUDA) are
predictable from enough of their output; the seed is secret and no raw draw is released,
but the guarantee rests on that.

After generation, each numeric column is matched to its released marginal by rank: the
sampled values are replaced by the marginal's quantiles in the same order; each categorical
column's per-row probabilities are rescaled until their mean is the released marginal
(`calibrate_to_marginal`). Both are post-processing, keep the learned dependence, and give
the columns their released shape.
"""

from __future__ import annotations

import functools
import math
import numbers
import secrets
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.optimizers.optimizer import _generate_noise
from scipy.stats import norm
from torch import nn
from torch.nn import functional as F

from synth_pipelines.privacy.domain import (
    NumericColumn,
    PrivateSchema,
    decode_slots,
    from_uniform,
    slots_of,
    to_uniform,
)

HIDDEN = 128
LATENT = 64
MAX_GRAD_NORM = 1.0
SCORE_CLIP = 4.0


def encode(schema: PrivateSchema, data: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Rows → model space: numeric columns as normal scores, categorical ones one-hot over released slots."""
    blocks = []
    for spec in schema.columns:
        column = data[spec.name]
        if isinstance(spec, NumericColumn):
            scores = norm.ppf(to_uniform(spec, column, rng))
            blocks.append(np.clip(scores, -SCORE_CLIP, SCORE_CLIP)[:, None] / 2.0)
        else:
            onehot = np.zeros((len(column), len(spec.probs)), dtype=np.float32)
            onehot[np.arange(len(column)), slots_of(spec, column)] = 1.0
            blocks.append(onehot)
    return np.hstack(blocks).astype(np.float32)


def _spans(schema: PrivateSchema) -> list[tuple[int, int, bool]]:
    spans, start = [], 0
    for spec, width in zip(schema.columns, schema.widths, strict=True):
        spans.append((start, start + width, isinstance(spec, NumericColumn)))
        start += width
    return spans


def _mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class _TVAE(nn.Module):
    def __init__(self, width: int, n_numeric: int):
        super().__init__()
        self.encoder = _mlp([width, HIDDEN, HIDDEN, 2 * LATENT])
        self.decoder = _mlp([LATENT, HIDDEN, HIDDEN, width])
        # A linear layer fed a constant holds the numeric outputs' log-σ, so that every
        # trainable parameter sits in a layer the book-keeping clipper knows how to clip.
        self.log_sigma = nn.Linear(1, max(n_numeric, 1))

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mean, log_var = self.encoder(rows).chunk(2, dim=1)
        latent = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        log_sigma = self.log_sigma(torch.zeros(rows.shape[0], 1, device=rows.device))
        return self.decoder(latent), mean, log_var, log_sigma


def _tvae_loss(model_out: tuple[torch.Tensor, ...], rows: torch.Tensor, spans: list) -> torch.Tensor:
    """Per-row loss: Gaussian NLL on numeric scores, cross-entropy on categories, KL to the prior."""
    recon, mean, log_var, log_sigma = model_out
    losses = []
    numeric_index = 0
    for start, end, numeric in spans:
        if numeric:
            sigma = log_sigma[:, numeric_index].clamp(-4, 2)
            losses.append(0.5 * ((rows[:, start] - recon[:, start]) / sigma.exp()) ** 2 + sigma)
            numeric_index += 1
        else:
            target = rows[:, start:end].argmax(dim=1)
            losses.append(F.cross_entropy(recon[:, start:end], target, reduction="none"))
    kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)
    return torch.stack(losses, dim=1).sum(dim=1) + kl


def _activate(raw: torch.Tensor, spans: list, hard: bool = False) -> torch.Tensor:
    """Generator outputs → encoded rows: tanh for scores, Gumbel-softmax for categories (as CTGAN)."""
    parts = []
    for start, end, numeric in spans:
        if numeric:
            parts.append(torch.tanh(raw[:, start:end]) * (SCORE_CLIP / 2.0))
        else:
            parts.append(F.gumbel_softmax(raw[:, start:end], tau=0.2, hard=hard))
    return torch.cat(parts, dim=1)


def calibrate_to_marginal(probs: np.ndarray, target: np.ndarray, rounds: int = 100, tol: float = 1e-4) -> np.ndarray:
    """Rescale each category's column of per-row probabilities until their mean is the released marginal.

    Iterative proportional fitting: multiply category k by target_k / mean_k, renormalise
    each row, repeat. Every row's odds between two categories change by the same factor, so
    the order of rows by those odds (what the model learned from the other columns) is
    kept, while the column as a whole takes the released shape, as numeric columns do by
    rank matching. Post-processing of the model and the released marginal: no ε.
    """
    target = np.asarray(target, dtype=np.float64)
    probs = probs.astype(np.float64, copy=True)
    for _ in range(rounds):
        mean = probs.mean(axis=0)
        if np.max(np.abs(mean - target)) < tol:
            break
        scale = np.divide(target, mean, out=np.zeros_like(target), where=mean > 0)
        probs *= scale
        totals = probs.sum(axis=1, keepdims=True)
        empty = totals[:, 0] <= 0
        probs[empty] = target
        totals[empty] = 1.0
        probs /= totals
    return probs


class DPNeuralModel:
    """A trained decoder/generator and the private schema; samples rows, holds no training row."""

    def __init__(self, name: str, schema: PrivateSchema, network: nn.Module, kind: str):
        self.name = name
        self.schema = schema
        self.kind = kind
        self.network = network.cpu().eval()
        self.training_record: dict[str, Any] = {}

    def _raw(self, num_rows: int, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            noise = torch.randn(num_rows, LATENT, generator=generator)
            return self.network(noise)

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame:
        generator = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        raw = self._raw(num_rows, generator).numpy().astype(np.float64)
        columns: dict[str, pd.Series] = {}
        start = 0
        for spec, width in zip(self.schema.columns, self.schema.widths, strict=True):
            block = raw[:, start : start + width]
            start += width
            if isinstance(spec, NumericColumn):
                # Rank matching to the released marginal (post-processing; see the module doc).
                order = np.argsort(block[:, 0] + 1e-9 * rng.standard_normal(num_rows), kind="stable")
                uniforms = np.empty(num_rows)
                uniforms[order] = (np.arange(num_rows) + rng.uniform(size=num_rows)) / max(num_rows, 1)
                columns[spec.name] = from_uniform(spec, uniforms, rng).reset_index(drop=True)
            else:
                logits = block - block.max(axis=1, keepdims=True)
                # Slots the released marginal says are empty stay empty (post-processing).
                probs = np.exp(logits) * (spec.probs > 0)
                probs[probs.sum(axis=1) == 0] = spec.probs
                probs /= probs.sum(axis=1, keepdims=True)
                probs = calibrate_to_marginal(probs, spec.probs)
                cumulative = probs.cumsum(axis=1)
                draws = rng.uniform(size=(num_rows, 1))
                slots = np.minimum((cumulative < draws).sum(axis=1), width - 1)
                columns[spec.name] = decode_slots(spec, slots).reset_index(drop=True)
        return pd.DataFrame(columns)[self.schema.order]


class _Generator(nn.Module):
    def __init__(self, width: int, spans: list):
        super().__init__()
        self.body = _mlp([LATENT, HIDDEN, HIDDEN, width])
        self.spans = spans

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.body(noise)


def _pairs_within_groups(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair (j, k), j ≠ k, of rows that belong to the same sample, each pair once."""
    order = torch.argsort(groups, stable=True)
    ordered = groups[order]
    firsts, seconds = [], []
    # In sorted order a sample's rows are adjacent: the pairs at offset d are those whose
    # ids match d places apart, and once no id matches at some offset none does further on.
    for offset in range(1, len(order)):
        same = ordered[:-offset] == ordered[offset:]
        if not bool(same.any()):
            break
        firsts.append(order[:-offset][same])
        seconds.append(order[offset:][same])
    if not firsts:
        empty = torch.zeros(0, dtype=torch.long, device=groups.device)
        return empty, empty
    return torch.cat(firsts), torch.cat(seconds)


class BookKeepingClipper:
    """Per-sample clipped gradient sums for a network of `nn.Linear` layers, from one backward pass.

    While `recording()`, each linear layer keeps its input `a` (rows × in) and its output.
    `backward(losses, groups)` asks autograd for the gradient of the summed per-row losses
    with respect to those outputs only (`g`, rows × out), so no weight gradient is computed
    twice. `groups[j]` names the sample row j belongs to (default: each row its own sample).
    Sample s's gradient for a layer is G_s = Σ_{j∈s} g_j a_jᵀ (plus Σ_{j∈s} g_j for the bias),
    so |G_s|² = Σ_{j,k∈s} (g_j·g_k)(a_j·a_k) and the bias adds Σ_{j,k∈s} g_j·g_k: the rows'
    own terms plus twice each within-sample pair. Summed over layers that is the sample's
    whole squared gradient norm. With c_s = min(1, C / (norm_s + 1e-6)) (Opacus' factor) on
    every row of s, each weight's clipped sum is (c ⊙ g)ᵀ a, written to `.grad`. Exact for
    layers fed (rows × features) and called once per step; anything else is refused.
    """

    def __init__(self, module: nn.Module, max_grad_norm: float):
        self.max_grad_norm = max_grad_norm
        self.layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
        covered = {id(p) for layer in self.layers for p in layer.parameters()}
        stray = [n for n, p in module.named_parameters() if p.requires_grad and id(p) not in covered]
        if stray:
            raise ValueError(f"book-keeping clipping covers nn.Linear layers only; not: {', '.join(stray)}")
        self._seen: dict[nn.Linear, tuple[torch.Tensor, torch.Tensor]] = {}
        self._recording = False
        self._hooks = [layer.register_forward_hook(self._keep) for layer in self.layers]

    def close(self) -> None:
        """Take the hooks off, so the trained network (which is saved) keeps no reference to the clipper."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        self._seen.clear()

    def _keep(self, layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if not self._recording:
            return
        if layer in self._seen or inputs[0].dim() != 2:
            raise RuntimeError("book-keeping clipping needs each linear layer called once, on (rows × features)")
        self._seen[cast(nn.Linear, layer)] = (inputs[0].detach(), output)

    @contextmanager
    def recording(self):
        self._seen.clear()
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    def backward(self, losses: torch.Tensor, groups: torch.Tensor | None = None, halves: bool = False) -> torch.Tensor:
        """Set every layer's `.grad` to the clipped sum of its per-sample gradients; return the samples' norms.

        `groups` (one sample id per row, ids 0 … S-1) clips rows that one neighbour adds
        together as one sample. `halves=True` is the discriminator's layout, row j and row
        j + n/2 one sample (a real row and the fake row drawn for it): the same sums as those
        groups, from slices instead of a search for the pairs and gathers.
        """
        rows = losses.shape[0]
        if halves:
            if groups is not None or rows % 2:
                raise ValueError("halves=True takes an even number of rows and no groups")
            return self._clip(losses, rows // 2, None, halves=True)
        if groups is None:  # each row its own sample: no within-sample pairs to add
            return self._clip(losses, rows, None, halves=False)
        groups = groups.to(device=losses.device, dtype=torch.long)
        if groups.shape != (rows,):
            raise ValueError("groups must hold one sample id per row of losses")
        return self._clip(losses, int(groups.max()) + 1 if rows else 0, groups, halves=False)

    def _clip(self, losses: torch.Tensor, samples: int, groups: torch.Tensor | None, halves: bool) -> torch.Tensor:
        first, second = _pairs_within_groups(groups) if groups is not None else (None, None)
        layers = [layer for layer in self.layers if layer in self._seen]
        outputs = [self._seen[layer][1] for layer in layers]
        grads = torch.autograd.grad(losses.sum(), outputs, allow_unused=True)
        squared = torch.zeros(samples, device=losses.device, dtype=losses.dtype)
        kept = []
        for layer, grad in zip(layers, grads, strict=True):
            if grad is None:
                continue
            activations = self._seen[layer][0]
            bias = 1.0 if layer.bias is not None else 0.0
            own = (grad.pow(2).sum(dim=1) * (activations.pow(2).sum(dim=1) + bias)).to(squared.dtype)
            if halves:
                cross = (grad[:samples] * grad[samples:]).sum(dim=1) * (
                    (activations[:samples] * activations[samples:]).sum(dim=1) + bias
                )
                squared += own[:samples] + own[samples:] + 2.0 * cross.to(squared.dtype)
            elif groups is None:
                squared += own
            else:
                cross = (grad[first] * grad[second]).sum(dim=1) * (
                    (activations[first] * activations[second]).sum(dim=1) + bias
                )
                squared.index_add_(0, groups, own)
                squared.index_add_(0, groups[first], 2.0 * cross.to(squared.dtype))
            kept.append((layer, activations, grad))
        # Rounding can leave a sample whose gradients cancel a hair below zero.
        norms = squared.clamp(min=0.0).sqrt()
        factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        if halves:
            factor = torch.cat([factor, factor])
        elif groups is not None:
            factor = factor[groups]
        for layer, activations, grad in kept:
            scaled = grad * factor[:, None]
            layer.weight.grad = scaled.t() @ activations
            if layer.bias is not None:
                layer.bias.grad = scaled.sum(dim=0)
        for layer in set(self.layers) - {layer for layer, _, _ in kept}:  # unused this step: no gradient
            layer.weight.grad = torch.zeros_like(layer.weight)
            if layer.bias is not None:
                layer.bias.grad = torch.zeros_like(layer.bias)
        self._seen.clear()
        return norms


@functools.lru_cache(maxsize=64)
def _noise_multiplier(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """Opacus' binary search for the RDP noise multiplier (public inputs only, so it may be cached)."""
    with warnings.catch_warnings():
        # At few steps the RDP optimum lies past Opacus' largest order: the bound stays valid, only looser.
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate, steps=steps, accountant="rdp"
            )
        )


@dataclass(frozen=True)
class DPSGDPlan:
    """The public numbers of one DP-SGD run, all computed from the batch size, epochs and `rows_estimate`."""

    sample_rate: float
    steps: int
    expected_batch_size: float
    noise_multiplier: float  # 0 when not private
    max_grad_norm: float


def plan_dp_sgd(
    epochs: int,
    batch_size: int,
    rows_estimate: float,
    epsilon: float,
    delta: float,
    private: bool = True,
    max_grad_norm: float = MAX_GRAD_NORM,
) -> DPSGDPlan:
    """Sampling rate, steps and the RDP noise multiplier that reaches (epsilon, delta) after those steps."""
    if not (isinstance(rows_estimate, numbers.Real) and math.isfinite(rows_estimate) and rows_estimate > 0):
        raise ValueError("rows_estimate must be a finite number above 0 (a DP estimate of the row count)")
    sample_rate = min(1.0, batch_size / float(rows_estimate))
    # The tolerance keeps a ratio that is whole up to rounding (2 / 0.1) from gaining a step.
    steps = max(1, math.ceil(epochs / sample_rate - 1e-9))
    noise_multiplier = _noise_multiplier(epsilon, delta, sample_rate, steps) if private else 0.0
    return DPSGDPlan(sample_rate, steps, sample_rate * float(rows_estimate), noise_multiplier, max_grad_norm)


class DPSGD:
    """Poisson batches, noise and accounting of one DP-SGD run, from generators seeded by `secrets`.

    Never the request's seed: the request is public, and noise or a sample an attacker can
    regenerate protects nothing. With `private=False` the same batches and the same scaling
    by the expected batch size, without noise or accounting: the like-for-like baseline.
    """

    def __init__(self, plan: DPSGDPlan, device: str = "cpu", private: bool = True):
        self.plan = plan
        self.private = private
        self._sampling = torch.Generator().manual_seed(secrets.randbits(63))
        self._noise = torch.Generator(device=device).manual_seed(secrets.randbits(63))
        self.accountant = RDPAccountant()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[int, Future] | None = None

    def batches(self, rows: int) -> Iterator[torch.Tensor]:
        """`plan.steps` index tensors, each row in each with probability q, empty ones included."""
        for _ in range(self.plan.steps):
            yield torch.nonzero(torch.rand(rows, generator=self._sampling) < self.plan.sample_rate).flatten()

    def release(self, parameters: Iterable[nn.Parameter]) -> None:
        """Turn each parameter's clipped gradient sum into the noisy mean the optimizer steps on; count the step.

        One flat noise draw covers every parameter (Opacus' secure-mode sampler on a flat
        reference: the same distribution per coordinate as a draw per parameter, with far fewer
        calls). On the CPU the next step's draw is made in a background thread while this step's
        forward and backward pass run (only when torch itself runs on one thread): it needs no data,
        and torch releases the GIL while it samples. Only that thread touches the noise generator once it has started.
        """
        params = list(parameters)
        totals = [param.grad if param.grad is not None else torch.zeros_like(param) for param in params]
        if self.private:
            noise = self._take_noise(sum(total.numel() for total in totals), totals[0].device)
            offset = 0
            for index, total in enumerate(totals):
                totals[index] = total + noise[offset : offset + total.numel()].view_as(total).to(total.dtype)
                offset += total.numel()
        for param, total in zip(params, totals, strict=True):
            param.grad = total / self.plan.expected_batch_size
        if self.private:
            self.accountant.step(noise_multiplier=self.plan.noise_multiplier, sample_rate=self.plan.sample_rate)
            if self.steps_counted >= self.plan.steps:
                self.close()

    def _draw(self, numel: int, device: torch.device) -> torch.Tensor:
        std = self.plan.noise_multiplier * self.plan.max_grad_norm
        reference = torch.empty(numel, device=device)
        return _generate_noise(std=std, reference=reference, generator=self._noise, secure_mode=True)

    def _take_noise(self, numel: int, device: torch.device) -> torch.Tensor:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == numel:
            noise = pending[1].result()
        else:
            if pending is not None:
                pending[1].result()  # a draw of another size (not in this module's loops): finish, discard
            noise = self._draw(numel, device)
        # Prefetch only when torch computes on one thread: beside torch's own pool of every core, the draw's
        # thread oversubscribed the CPU and made each DP epoch 2-3x slower (benchmarks/results/dp_sgd_cost.md).
        if device.type == "cpu" and torch.get_num_threads() == 1 and self.steps_counted + 1 < self.plan.steps:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dp-sgd-noise")
            self._pending = (numel, self._pool.submit(self._draw, numel, device))
        return noise

    def close(self) -> None:
        """Stop the background noise thread (a prefetched draw, if any, is never used)."""
        if self._pending is not None:
            self._pending[1].result()
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def steps_counted(self) -> int:
        return int(sum(steps for _, _, steps in self.accountant.history))

    def epsilon(self, delta: float) -> float:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return float(self.accountant.get_epsilon(delta))


def discriminator_backward(
    discriminator: nn.Module, clipper: BookKeepingClipper | None, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """The discriminator's gradient sum for one batch, each real row clipped together with its fake row.

    Fake row i is the one drawn for real row i, so adding real row i adds both: the pair is
    one sample (sensitivity C). Without a clipper (not private) the plain sum. Returns the
    per-row losses, detached.
    """
    if len(real) != len(fake):
        raise ValueError("the discriminator step needs one fake row per real row")
    labels = torch.cat([torch.ones(len(real), device=real.device), torch.zeros(len(fake), device=real.device)])
    labels = labels.to(real.dtype)
    if clipper is None:
        losses = F.binary_cross_entropy_with_logits(
            discriminator(torch.cat([real, fake]))[:, 0], labels, reduction="none"
        )
        losses.sum().backward()
        return losses.detach()
    with clipper.recording():
        logits = discriminator(torch.cat([real, fake]))[:, 0]
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    clipper.backward(losses, halves=True)  # real row i and fake row i: one sample
    return losses.detach()


def _zero_grads(parameters: Iterable[nn.Parameter]) -> None:
    """An empty batch's clipped sum: zero for every parameter."""
    for param in parameters:
        param.grad = torch.zeros_like(param)


def _epoch_ends(steps: int, epochs: int) -> set[int]:
    return {max(1, round((epoch + 1) * steps / epochs)) for epoch in range(epochs)}


def train_neural(
    name: str,
    encoded: np.ndarray,
    schema: PrivateSchema,
    epochs: int,
    batch_size: int,
    device: str,
    epsilon: float,
    delta: float,
    rows_estimate: float,
    private: bool = True,
) -> tuple[nn.Module, dict[str, Any], list[dict[str, float]]]:
    """Train the TVAE's decoder or the GAN's generator by DP-SGD; `private=False` is the same loop without DP.

    Returns the network, a record (the plan's public numbers, the accountant's ε and step
    count when private, seconds per epoch) and the loss curve, which is a function of the
    rows and stays private.
    """
    plan = plan_dp_sgd(epochs, batch_size, rows_estimate, epsilon, delta, private)
    runner = DPSGD(plan, device, private)
    spans = _spans(schema)
    width = encoded.shape[1]
    rows = torch.from_numpy(encoded).to(device)
    ends = _epoch_ends(plan.steps, epochs)
    curve: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    started = time.perf_counter()
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # losses summed over the epoch's rows
    count = g_count = 0
    if name == "dp_tvae":
        n_numeric = sum(1 for *_, numeric in spans if numeric)
        vae = _TVAE(width, n_numeric).to(device)
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
        clipper = BookKeepingClipper(vae, plan.max_grad_norm) if private else None
        for step, index in enumerate(runner.batches(rows.shape[0]), start=1):
            batch = rows[index.to(device)]
            optimizer.zero_grad(set_to_none=True)
            if len(batch) == 0:
                _zero_grads(vae.parameters())
            elif clipper is None:
                losses = _tvae_loss(vae(batch), batch, spans)
                losses.sum().backward()
            else:
                with clipper.recording():
                    outputs = vae(batch)
                losses = _tvae_loss(outputs, batch, spans)
                clipper.backward(losses)
            if len(batch):
                totals[0] += losses.detach().sum()
                count += len(batch)
            runner.release(vae.parameters())
            optimizer.step()
            if step in ends:
                epoch_seconds.append(time.perf_counter() - started)
                curve.append({"epoch": len(curve), "loss": float(totals[0]) / max(count, 1)})
                started, count = time.perf_counter(), 0
                totals.zero_()
        network: nn.Module = vae.decoder
    else:
        generator = _Generator(width, spans).to(device)
        discriminator = nn.Sequential(_mlp([width, HIDDEN, HIDDEN], final_activation=True), nn.Linear(HIDDEN, 1))
        discriminator = discriminator.to(device)
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.9))
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.9))
        clipper = BookKeepingClipper(discriminator, plan.max_grad_norm) if private else None
        # The generator's own batch has a public size: it never sees a real row (post-processing of D).
        generator_rows = max(1, round(plan.expected_batch_size))
        for step, index in enumerate(runner.batches(rows.shape[0]), start=1):
            batch = rows[index.to(device)]
            d_optimizer.zero_grad(set_to_none=True)
            if len(batch) == 0:
                _zero_grads(discriminator.parameters())
            else:
                with torch.no_grad():
                    fake = _activate(generator(torch.randn(len(batch), LATENT, device=device)), spans)
                d_losses = discriminator_backward(discriminator, clipper, batch, fake)
                totals[0] += d_losses.sum() / 2
                count += len(batch)
            runner.release(discriminator.parameters())
            d_optimizer.step()

            fake = _activate(generator(torch.randn(generator_rows, LATENT, device=device)), spans)
            g_loss = F.binary_cross_entropy_with_logits(
                discriminator(fake)[:, 0], torch.ones(generator_rows, device=device)
            )
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            d_optimizer.zero_grad(set_to_none=True)
            totals[1] += g_loss.detach() * generator_rows
            g_count += generator_rows
            if step in ends:
                epoch_seconds.append(time.perf_counter() - started)
                curve.append(
                    {
                        "epoch": len(curve),
                        "discriminator_loss": float(totals[0]) / max(count, 1),
                        "generator_loss": float(totals[1]) / max(g_count, 1),
                    }
                )
                started, count, g_count = time.perf_counter(), 0, 0
                totals.zero_()
        network = nn.Sequential(generator.body)
    if clipper is not None:
        clipper.close()
    runner.close()
    record: dict[str, Any] = {
        "epoch_seconds": epoch_seconds,
        "sampling_rate": plan.sample_rate,
        "steps": runner.steps_counted if private else plan.steps,
        "planned_steps": plan.steps,
        "expected_batch_size": plan.expected_batch_size,
        "noise_multiplier": plan.noise_multiplier,
    }
    if private:
        record["epsilon"] = runner.epsilon(delta)
    return network, record, curve


class _GANGenerator(nn.Module):
    """The generator's body followed by its output activations, for sampling."""

    def __init__(self, body: nn.Module, spans: list):
        super().__init__()
        self.body = body
        self.spans = spans

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        raw = self.body(noise)
        parts = []
        for start, end, numeric in self.spans:
            # Categories are sampled from the softmax at decode time, so emit logits as they are.
            parts.append(raw[:, start:end] if not numeric else torch.tanh(raw[:, start:end]) * (SCORE_CLIP / 2.0))
        return torch.cat(parts, dim=1)


def train_dp_neural(
    data: pd.DataFrame,
    schema: PrivateSchema,
    spec: Any,
    epsilon: float,
    delta: float,
    device: str,
    seed: int,
    noise_rng: np.random.Generator,
    rows_estimate: float,
    private: bool = True,
) -> tuple[DPNeuralModel, float, float, dict[str, Any], list[dict[str, float]]]:
    """Train `spec.name` with DP-SGD at (epsilon, delta); return the model and what was spent.

    `private=False` trains the same model in the same loop without clipping or noise (the
    benchmark's like-for-like baseline; never reachable from a request).

    `rows_estimate` is a DP estimate of len(data) (a float > 0) that the caller paid for:
    the sampling rate, the steps and the noise follow from it, never from the data, so none
    of the returned numbers tells neighbouring datasets apart. The loss curve is a function
    of the rows: the caller keeps it in the private area.
    """
    # Initialisation, the TVAE's reparameterisation and the GAN's latent noise draw from
    # torch's global generator: seed it secretly, and give the caller its own state back.
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(secrets.randbits(63))
        encoded = encode(schema, data, noise_rng)
        network, record, curve = train_neural(
            spec.name, encoded, schema, spec.epochs, spec.batch_size, device, epsilon, delta, rows_estimate, private
        )
    del encoded
    if private and record["epsilon"] > epsilon:
        raise RuntimeError(f"the accountant reports ε={record['epsilon']:.4f} over the stage's target {epsilon:.4f}")
    if spec.name == "dp_ctgan":
        network = _GANGenerator(cast(nn.Sequential, network)[0], _spans(schema))
    model = DPNeuralModel(spec.name, schema, network, kind=spec.name)
    sample = "a real row and the fake row drawn for it, clipped jointly" if spec.name == "dp_ctgan" else "a row"
    training = {
        "accountant": "Opacus RDPAccountant (DP-SGD, Poisson sampling, rate from a DP row estimate); "
        "preprocessing zCDP; stages by basic composition",
        "mechanism": f"DP-SGD, Gaussian noise (Opacus secure_mode sampler, no CSPRNG) on the book-keeping clipped "
        f"sum (max_grad_norm {MAX_GRAD_NORM}, one sample = {sample}) of the "
        + ("discriminator" if spec.name == "dp_ctgan" else "encoder and decoder")
        + "; Gaussian histograms for the schema",
        "noise_multiplier": record["noise_multiplier"],
        "sampling_rate": record["sampling_rate"],
        "steps": record["steps"],
    }
    return model, record.get("epsilon", float("inf")), delta, training, curve
