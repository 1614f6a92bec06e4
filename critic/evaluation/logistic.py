"""Weighted logistic regression with soft targets: the one fit behind length bias and LC win rates.

For rows ``x_i`` (a design matrix ``X``, intercept included by the caller), targets
``y_i ∈ [0, 1]`` (a tie is ``0.5``, the mean of several judgments any fraction) and weights
``w_i ≥ 0`` (bootstrap counts), the fit minimises the negative log-likelihood

    ``L(β) = −Σ_i w_i [y_i log σ(x_i·β) + (1 − y_i) log(1 − σ(x_i·β))] + (λ/2) ||β||²``

with ``σ(z) = 1 / (1 + e^{−z})``, gradient ``Xᵀ (w ∘ (σ(Xβ) − y)) + λβ`` and Hessian
``Xᵀ diag(w σ(1 − σ)) X + λI``; standard errors are ``sqrt(diag(H⁻¹))`` at the optimum (Wald).

Why written here on ``scipy.optimize`` rather than taken from a library: scikit-learn is not a
dependency of critic (it is only the tests' cross-check), its ``LogisticRegression`` takes hard
labels only (soft targets need each row duplicated with weights ``y`` and ``1 − y``) and
regularises by default; statsmodels is not a dependency either. The loss above is a few lines, and
L-BFGS with the exact gradient converges in a few dozen steps for the handful of columns used.

>>> X = np.array([[1.0, -1.0], [1.0, 1.0]])
>>> fit = fit_logistic(X, np.array([0.25, 0.75]))      # two points: the fit passes through both
>>> [round(float(v), 4) for v in sigmoid(X @ fit.coef)]
[0.25, 0.75]
>>> round(float(fit.coef[1]), 4) == round(float(np.log(3)), 4)   # logit(0.75) = log 3
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^{−z})``, computed without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


@dataclass(frozen=True)
class LogisticFit:
    """Coefficients, their Wald standard errors (``nan`` where the Hessian is singular), convergence."""

    coef: np.ndarray
    se: np.ndarray
    converged: bool
    nll: float


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, *, l2: float = 0.0,
                 x0: np.ndarray | None = None) -> LogisticFit:
    """Fit ``P(y = 1 | x) = σ(x·β)`` by minimising the weighted soft-target log-loss (module docstring)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ beta
        # log σ(z) = −log(1 + e^{−z}); log(1 − σ(z)) = −log(1 + e^{z})
        nll = float(np.sum(w * (y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))))
        grad = X.T @ (w * (sigmoid(z) - y))
        return nll + 0.5 * l2 * float(beta @ beta), grad + l2 * beta

    start = np.zeros(X.shape[1]) if x0 is None else np.asarray(x0, dtype=float)
    res = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-10, "ftol": 1e-15})
    beta = np.asarray(res.x, dtype=float)
    p = sigmoid(X @ beta)
    hess = X.T @ (X * (w * p * (1.0 - p))[:, None]) + l2 * np.eye(X.shape[1])
    try:
        cov = np.linalg.inv(hess)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(X.shape[1], np.nan)
    return LogisticFit(beta, se, bool(res.success), float(res.fun))


__all__ = ["LogisticFit", "fit_logistic", "sigmoid"]
