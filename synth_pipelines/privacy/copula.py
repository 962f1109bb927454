"""DP Gaussian copula: noisy marginals (from the private schema) joined by a noisy correlation matrix.

Each row is mapped to normal scores through the released marginals, clipped to a
fixed L2 norm, and the sum of outer products is released with the Gaussian mechanism
(sensitivity = the clip norm squared). Everything after that is post-processing: projection
onto the correlation matrices, and sampling.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from synth_pipelines.privacy.budget import gaussian_sigma
from synth_pipelines.privacy.schema import PrivateSchema, from_uniform, to_uniform


def normal_scores(schema: PrivateSchema, data: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    return norm.ppf(np.column_stack([to_uniform(spec, data[spec.name], rng) for spec in schema.columns]))


def nearest_correlation(matrix: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Symmetric, positive definite, unit diagonal: the closest such matrix by eigenvalue clipping."""
    symmetric = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(symmetric)
    fixed = vectors @ np.diag(np.maximum(values, floor)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    correlation = fixed / np.outer(scale, scale)
    np.fill_diagonal(correlation, 1.0)
    return correlation


def private_correlation(scores: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Correlation of the normal scores via one Gaussian mechanism on Σ z zᵀ with rows clipped."""
    dimension = scores.shape[1]
    # Clip at sqrt(2d): a d-dimensional standard normal row exceeds it rarely, and the
    # noise grows with the clip norm squared.
    clip = math.sqrt(2.0 * dimension)
    norms = np.linalg.norm(scores, axis=1, keepdims=True)
    clipped = scores * np.minimum(1.0, clip / np.maximum(norms, 1e-12))
    total = clipped.T @ clipped
    sigma = gaussian_sigma(rho, sensitivity=clip**2)
    noise = np.triu(rng.normal(0.0, sigma, size=total.shape))
    noise = noise + np.triu(noise, 1).T
    return nearest_correlation(total + noise)


class DPGaussianCopula:
    """Samples rows from the released marginals and correlation; holds no training row."""

    name = "dp_gaussian_copula"

    def __init__(self, schema: PrivateSchema, correlation: np.ndarray, training_record: dict):
        self.schema = schema
        self.correlation = correlation
        self.cholesky = np.linalg.cholesky(correlation)
        self.training_record = training_record

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        latent = rng.standard_normal((num_rows, len(self.schema.columns))) @ self.cholesky.T
        uniforms = norm.cdf(latent)
        columns = {
            spec.name: from_uniform(spec, uniforms[:, i], rng).reset_index(drop=True)
            for i, spec in enumerate(self.schema.columns)
        }
        return pd.DataFrame(columns)[self.schema.order]
