"""DP Gaussian copula: noisy marginals (from the private schema) joined by a noisy correlation matrix.

Each row is mapped to normal scores through the released marginals, with its within-slot
position keyed to the row itself (`row_jitter`), clipped to a fixed L2 norm, and the upper
triangle of the sum of outer products is released with OpenDP's Gaussian mechanism. Under
add/remove-one-row neighbours that sum moves by z zᵀ of one row, whose upper triangle has
L2 norm at most |z|² ≤ clip²: the sensitivity OpenDP is given. Everything after that is
post-processing: projection onto the correlation matrices, and sampling.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from synth_pipelines.privacy.domain import PrivateSchema, from_uniform, to_uniform


def normal_scores(schema: PrivateSchema, data: pd.DataFrame, jitter: np.ndarray) -> np.ndarray:
    """(rows × modelled columns) normal scores; `jitter[:, j]` is each row's position inside its slot."""
    return norm.ppf(
        np.column_stack([to_uniform(spec, data[spec.name], jitter[:, j]) for j, spec in enumerate(schema.columns)])
    )


def clip_norm(dimension: int) -> float:
    """sqrt(2d): a d-dimensional standard normal row exceeds it rarely, and the noise grows with its square."""
    return math.sqrt(2.0 * dimension)


def correlation_statistic(scores: np.ndarray) -> np.ndarray:
    """The upper triangle (diagonal included) of Σ z zᵀ over rows clipped to `clip_norm`: sensitivity clip²."""
    dimension = scores.shape[1]
    clip = clip_norm(dimension)
    norms = np.linalg.norm(scores, axis=1, keepdims=True)
    clipped = scores * np.minimum(1.0, clip / np.maximum(norms, 1e-12))
    return (clipped.T @ clipped)[np.triu_indices(dimension)]


def gaussian_release(statistic: np.ndarray, sensitivity: float, rho: float) -> tuple[np.ndarray, float, float]:
    """(noisy vector, noise scale, ρ as OpenDP states it) of OpenDP's Gaussian mechanism on a float vector."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    scale = sensitivity / math.sqrt(2.0 * rho)
    measurement = dp.m.make_gaussian(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float), scale=scale
    )
    noisy = np.asarray(measurement([float(v) for v in statistic]), dtype=float)
    return noisy, scale, float(measurement.map(sensitivity))


def nearest_correlation(matrix: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Symmetric, positive definite, unit diagonal: the closest such matrix by eigenvalue clipping."""
    symmetric = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(symmetric)
    fixed = vectors @ np.diag(np.maximum(values, floor)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    correlation = fixed / np.outer(scale, scale)
    np.fill_diagonal(correlation, 1.0)
    return correlation


def private_correlation(scores: np.ndarray, rho: float) -> tuple[np.ndarray, float]:
    """(correlation matrix, ρ spent): one Gaussian release of the clipped score covariance."""
    dimension = scores.shape[1]
    if dimension == 0:
        return np.zeros((0, 0)), 0.0
    noisy, _, spent = gaussian_release(correlation_statistic(scores), clip_norm(dimension) ** 2, rho)
    matrix = np.zeros((dimension, dimension))
    matrix[np.triu_indices(dimension)] = noisy
    matrix = matrix + np.triu(matrix, 1).T
    return nearest_correlation(matrix), spent


class DPGaussianCopula:
    """Samples rows from the released marginals and correlation; holds no training row."""

    name = "dp_gaussian_copula"

    def __init__(self, schema: PrivateSchema, correlation: np.ndarray, training_record: dict):
        self.schema = schema
        self.correlation = correlation
        self.cholesky = np.linalg.cholesky(correlation) if len(correlation) else correlation
        self.training_record = training_record

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        latent = rng.standard_normal((num_rows, len(self.schema.columns))) @ self.cholesky.T
        uniforms = norm.cdf(latent)
        columns = {
            spec.name: from_uniform(spec, uniforms[:, i], rng).reset_index(drop=True)
            for i, spec in enumerate(self.schema.columns)
        }
        return pd.DataFrame(columns, index=pd.RangeIndex(num_rows))
