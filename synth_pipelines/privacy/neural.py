"""DP-SGD synthesizers, TVAE- and CTGAN-style, trained with Opacus on the private schema's encoding.

Why not SDV's or ctgan's own models: they fit per-column Gaussian mixtures on the raw
data and keep the training table in a conditional sampler, neither of which is private.
Here a row is encoded through the released marginals (numeric → normal score, categorical
→ one-hot), so the encoding itself leaks nothing, and only DP-SGD sees the rows.

DP-SGD uses Opacus with Poisson sampling, the RDP accountant and `make_private_with_epsilon`
(its ghost-clipping optimizer, which adds the noise to an already clipped sum). The clipped
sum itself comes from book-keeping clipping (`BookKeepingClipper`; Bu et al., "Differentially
private optimization on large model at small cost", 2023): one backward pass gives each
linear layer's output gradients, the per-sample gradient norms follow from them and the
layer inputs without materialising a per-sample gradient, and each weight's clipped sum is
one matrix product. Opacus' own ghost clipping runs a second full backward pass instead.
GAN packing (pac) is 1: a packed discriminator sample would hold several rows, and Poisson
sampling would reshuffle which rows share a pack.

After generation, each numeric column is matched to its released marginal by rank: the
sampled values are replaced by the marginal's quantiles in the same order; each categorical
column's per-row probabilities are rescaled until their mean is the released marginal
(`calibrate_to_marginal`). Both are post-processing, keep the learned dependence, and give
the columns their released shape.
"""

from __future__ import annotations

import secrets
import time
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn
from torch.nn import functional as F

from synth_pipelines.privacy.schema import (
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
        # A linear layer fed a constant holds the numeric outputs' log-σ, so that Opacus
        # sees every trainable parameter inside a layer it knows how to clip.
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


class _PerRowLoss:
    """The criterion Opacus' ghost clipping wraps: it receives per-row losses already computed."""

    def __init__(self) -> None:
        self.reduction = "mean"

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        if self.reduction == "none":
            return losses
        return losses.mean() if self.reduction == "mean" else losses.sum()


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


class BookKeepingClipper:
    """Per-sample clipped gradient sums for a network of `nn.Linear` layers, from one backward pass.

    While `recording()`, each linear layer keeps its input `a` (rows × in) and its output.
    `backward(losses)` asks autograd for the gradient of the summed per-row losses with
    respect to those outputs only (`g`, rows × out), so no weight gradient is computed
    twice. Row i's gradient for a layer is the outer product g_i a_iᵀ (plus g_i for the
    bias), whose squared norm is |g_i|²|a_i|² (+ |g_i|²); summed over layers that is the
    row's whole squared gradient norm. With c_i = min(1, C / (norm_i + 1e-6)) (Opacus'
    factor) the clipped sum of a weight is (c ⊙ g)ᵀ a, written to `.grad` for the DP
    optimizer to noise. Exact for layers fed (rows × features) and called once per step;
    anything else is refused.
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
        self._seen[layer] = (inputs[0].detach(), output)

    @contextmanager
    def recording(self):
        self._seen.clear()
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        """Set every layer's `.grad` to the clipped sum of its per-row gradients; return the rows' norms."""
        layers = [layer for layer in self.layers if layer in self._seen]
        outputs = [self._seen[layer][1] for layer in layers]
        grads = torch.autograd.grad(losses.sum(), outputs, allow_unused=True)
        squared = torch.zeros(losses.shape[0], device=losses.device, dtype=losses.dtype)
        kept = []
        for layer, grad in zip(layers, grads, strict=True):
            if grad is None:
                continue
            activations = self._seen[layer][0]
            grad_sq = grad.pow(2).sum(dim=1)
            squared = squared + grad_sq * activations.pow(2).sum(dim=1)
            if layer.bias is not None:
                squared = squared + grad_sq
            kept.append((layer, activations, grad))
        norms = squared.sqrt()
        factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
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


CLIPPINGS = ("bookkeeping", "ghost")


def _privatise(module, optimizer, loader, epsilon, delta, epochs, noise_generator, private: bool, clipping: str):
    """Opacus' Poisson loader, accountant and noising optimizer; clipping by `BookKeepingClipper`.

    `clipping="ghost"` keeps Opacus' own ghost clipping (two backward passes) instead: the
    benchmark times both against the plain model in one session.
    """
    if clipping not in CLIPPINGS:
        raise ValueError(f"clipping {clipping!r} is not allowed; allowed: {', '.join(CLIPPINGS)}")
    if not private:
        return module, optimizer, _PerRowLoss(), loader, None, None
    from opacus import PrivacyEngine

    engine = PrivacyEngine(accountant="rdp")
    module, optimizer, criterion, loader = engine.make_private_with_epsilon(
        module=module,
        optimizer=optimizer,
        criterion=_PerRowLoss(),
        data_loader=loader,
        target_epsilon=epsilon,
        target_delta=delta,
        epochs=epochs,
        max_grad_norm=MAX_GRAD_NORM,
        grad_sample_mode="ghost",
        noise_generator=noise_generator,
    )
    if clipping == "ghost":
        return module, optimizer, criterion, loader, engine, None
    # Only the optimizer (noise on the clipped sum), the loader and the accountant are kept:
    # Opacus' ghost hooks come off and the clipper takes the unwrapped network.
    module.remove_hooks()
    module = module._module
    return module, optimizer, criterion, loader, engine, BookKeepingClipper(module, MAX_GRAD_NORM)


def train_neural(
    name: str,
    encoded: np.ndarray,
    schema: PrivateSchema,
    epochs: int,
    batch_size: int,
    device: str,
    epsilon: float,
    delta: float,
    private: bool = True,
    clipping: str = "bookkeeping",
) -> tuple[nn.Module, dict[str, Any], list[dict[str, float]]]:
    """Train the TVAE's decoder or the GAN's generator; `private=False` is the same loop without DP (timing)."""
    spans = _spans(schema)
    width = encoded.shape[1]
    rows = torch.from_numpy(encoded)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(rows), batch_size=min(batch_size, len(rows)), shuffle=True
    )
    noise_generator = torch.Generator(device=device).manual_seed(secrets.randbits(63))
    curve: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    if name == "dp_tvae":
        n_numeric = sum(1 for *_, numeric in spans if numeric)
        vae = _TVAE(width, n_numeric).to(device)
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
        vae, optimizer, criterion, loader, engine, clipper = _privatise(
            vae, optimizer, loader, epsilon, delta, epochs, noise_generator, private, clipping
        )
        for epoch in range(epochs):
            started, total, count = time.perf_counter(), 0.0, 0
            for (batch,) in loader:
                if len(batch) == 0:
                    continue
                batch = batch.to(device)
                optimizer.zero_grad(set_to_none=True)
                if clipper is None:
                    loss = criterion(_tvae_loss(vae(batch), batch, spans))
                    loss.backward()
                else:
                    with clipper.recording():
                        outputs = vae(batch)
                    losses = _tvae_loss(outputs, batch, spans)
                    clipper.backward(losses)
                    loss = losses.detach().mean()
                optimizer.step()
                total, count = total + float(loss.item()) * len(batch), count + len(batch)
            epoch_seconds.append(time.perf_counter() - started)
            curve.append({"epoch": epoch, "loss": total / max(count, 1)})
        if hasattr(vae, "remove_hooks"):  # Opacus wraps the network under ghost clipping
            vae.remove_hooks()
        network = getattr(vae, "_module", vae).decoder
        steps_module = optimizer
    else:
        generator = _Generator(width, spans).to(device)
        discriminator = nn.Sequential(_mlp([width, HIDDEN, HIDDEN], final_activation=True), nn.Linear(HIDDEN, 1))
        discriminator = discriminator.to(device)
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.9))
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.9))
        discriminator, d_optimizer, criterion, loader, engine, clipper = _privatise(
            discriminator, d_optimizer, loader, epsilon, delta, epochs, noise_generator, private, clipping
        )
        for epoch in range(epochs):
            started, d_total, g_total, count = time.perf_counter(), 0.0, 0.0, 0
            for (batch,) in loader:
                if len(batch) == 0:
                    continue
                batch = batch.to(device)
                with torch.no_grad():
                    fake = _activate(generator(torch.randn(len(batch), LATENT, device=device)), spans)
                # Real and fake rows go through one forward, so each real row is one clipped sample.
                labels = torch.cat([torch.ones(len(batch), device=device), torch.zeros(len(fake), device=device)])
                d_optimizer.zero_grad(set_to_none=True)
                if clipper is None:
                    logits = discriminator(torch.cat([batch, fake]))[:, 0]
                    d_loss = criterion(F.binary_cross_entropy_with_logits(logits, labels, reduction="none"))
                    d_loss.backward()
                else:
                    with clipper.recording():
                        logits = discriminator(torch.cat([batch, fake]))[:, 0]
                    d_losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
                    clipper.backward(d_losses)
                    d_loss = d_losses.detach().mean()
                d_optimizer.step()

                # The generator never sees a real row: its update is post-processing of D.
                ghost_hooks = engine is not None and clipper is None
                if ghost_hooks:
                    discriminator.disable_hooks()
                fake = _activate(generator(torch.randn(len(batch), LATENT, device=device)), spans)
                g_loss = F.binary_cross_entropy_with_logits(
                    discriminator(fake)[:, 0], torch.ones(len(fake), device=device)
                )
                g_optimizer.zero_grad(set_to_none=True)
                g_loss.backward()
                g_optimizer.step()
                if ghost_hooks:
                    discriminator.enable_hooks()
                d_optimizer.zero_grad(set_to_none=True)
                d_total += float(d_loss.item()) * len(batch)
                g_total += float(g_loss.item()) * len(batch)
                count += len(batch)
            epoch_seconds.append(time.perf_counter() - started)
            curve.append(
                {
                    "epoch": epoch,
                    "discriminator_loss": d_total / max(count, 1),
                    "generator_loss": g_total / max(count, 1),
                }
            )
        network = nn.Sequential(generator.body)
        steps_module = d_optimizer
    if clipper is not None:
        clipper.close()
    record: dict[str, Any] = {"epoch_seconds": epoch_seconds}
    if engine is not None:
        record.update(
            {
                "epsilon": float(engine.get_epsilon(delta)),
                "noise_multiplier": float(steps_module.noise_multiplier),
                "sampling_rate": float(1.0 / len(loader)),
                "steps": int(sum(steps for _, _, steps in engine.accountant.history)),
            }
        )
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
) -> tuple[DPNeuralModel, float, float, dict[str, Any], list[dict[str, float]]]:
    """Train `spec.name` with DP-SGD at (epsilon, delta); return the model and what was spent."""
    # Poisson sampling draws from torch's global generator: seed it secretly, and give the
    # caller its own state back afterwards.
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
        # Opacus warns that its secure RNG is off (our noise comes from a secretly seeded
        # generator instead) and that backward hooks fire on inputs needing no gradient.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        # At few steps the RDP optimum lies past Opacus' largest order: the bound stays valid, only looser.
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        torch.manual_seed(secrets.randbits(63))
        encoded = encode(schema, data, noise_rng)
        network, record, curve = train_neural(
            spec.name, encoded, schema, spec.epochs, spec.batch_size, device, epsilon, delta
        )
    del encoded
    if record["epsilon"] > epsilon:
        raise RuntimeError(f"the accountant reports ε={record['epsilon']:.4f} over the stage's target {epsilon:.4f}")
    if spec.name == "dp_ctgan":
        network = _GANGenerator(network[0], _spans(schema))
    model = DPNeuralModel(spec.name, schema, network, kind=spec.name)
    training = {
        "accountant": "Opacus RDP (DP-SGD, Poisson sampling); preprocessing zCDP; stages by basic composition",
        "mechanism": f"DP-SGD with book-keeping per-sample clipping (max_grad_norm {MAX_GRAD_NORM}) on the "
        + ("discriminator" if spec.name == "dp_ctgan" else "encoder and decoder")
        + "; Gaussian histograms for the schema",
        "noise_multiplier": record["noise_multiplier"],
        "sampling_rate": record["sampling_rate"],
        "steps": record["steps"],
        "epoch_seconds": [round(s, 4) for s in record["epoch_seconds"]],
    }
    return model, record["epsilon"], delta, training, curve
