"""Scoring cells that lack some elements: conditional-mean imputation from the training cells.

A compilation's campaigns analysed different element lists, so many cells miss a few of a
model's elements. :class:`GaussianImputer` fills them from the elements the cell has:
fitted on the model's training cells in log space (concentrations are log-normal; raw
values for the ``none`` transform), it replaces a missing element by its conditional mean
given the present ones, ``μ_M + Σ_MO Σ_OO⁻¹ (x_O − μ_O)`` — the regression of the missing
elements on the present ones, with all cells sharing one missing-element pattern solved
together.

What that is honest about: an imputed element carries no evidence of its own — it is what
the present elements predict, shrunk towards typical ground — so a cell is anomalous only
through the elements it has. geogan therefore scores a cell only when it holds at least
``min_elements`` of the model's elements (``geogan score --min-elements K``) and writes
the count it used (``elements_used``) beside every score.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> z = rng.normal(size=(2000, 1))
>>> X = np.exp(np.hstack([z, z + 0.1 * rng.normal(size=(2000, 1))]))  # two correlated elements
>>> imp = GaussianImputer().fit(X)
>>> filled = imp.impute(np.array([[np.e, np.nan]]), min_present=1)
>>> round(float(np.log(filled[0, 1])), 1)   # predicted from the first element
1.0
"""

from __future__ import annotations

import numpy as np

from geogan.errors import ModelError


class GaussianImputer:
    """Conditional-mean imputation under a Gaussian fitted to (log) training cells.

    Parameters
    ----------
    log
        Work on log concentrations (True; for strictly positive data) or raw values.
    ridge
        Added to the covariance diagonal, relative to its mean variance, so that collinear
        elements (a closed composition, duplicated analyses) still invert.
    """

    def __init__(self, *, log: bool = True, ridge: float = 1e-6):
        self.log = log
        self.ridge = ridge

    def _forward(self, X: np.ndarray) -> np.ndarray:
        if not self.log:
            return X
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(X)

    def fit(self, X) -> GaussianImputer:
        """Fit the mean and covariance on complete rows of ``X`` (cells × elements)."""
        L = self._forward(np.asarray(X, dtype=np.float64))
        rows = np.isfinite(L).all(axis=1)
        if rows.sum() < 2:
            raise ModelError("imputation needs at least two complete training cells")
        L = L[rows]
        self.mean_ = L.mean(axis=0)
        cov = np.atleast_2d(np.cov(L, rowvar=False))
        cov[np.diag_indices_from(cov)] += self.ridge * max(float(np.mean(np.diag(cov))), 1e-12)
        self.cov_ = cov
        return self

    def impute(self, X, *, min_present: int) -> np.ndarray:
        """``X`` with the missing values of every row holding at least ``min_present``
        finite values filled in (other rows unchanged: they stay incomplete, unscored)."""
        if not hasattr(self, "mean_"):
            raise ModelError("the imputer is not fitted")
        X = np.array(X, dtype=np.float64, copy=True)
        if X.ndim != 2 or X.shape[1] != self.mean_.size:
            raise ModelError(f"expected {self.mean_.size} columns, got shape {X.shape}")
        present = np.isfinite(X)
        n_present = present.sum(axis=1)
        todo = (n_present < X.shape[1]) & (n_present >= max(int(min_present), 1))
        if not todo.any():
            return X
        L = self._forward(X[todo])
        patterns, which = np.unique(present[todo], axis=0, return_inverse=True)
        for k, pattern in enumerate(patterns):
            rows = np.flatnonzero(which.ravel() == k)
            o, m = np.flatnonzero(pattern), np.flatnonzero(~pattern)
            # Σ_MO Σ_OO⁻¹ (x_O − μ_O), solved for all rows of this pattern at once
            coef = np.linalg.solve(self.cov_[np.ix_(o, o)], self.cov_[np.ix_(o, m)])
            L[np.ix_(rows, m)] = self.mean_[m] + (L[np.ix_(rows, o)] - self.mean_[o]) @ coef
        X[todo] = np.exp(L) if self.log else L
        return X

    def to_dict(self) -> dict:
        if not hasattr(self, "mean_"):
            raise ModelError("the imputer is not fitted")
        return {"log": self.log, "ridge": self.ridge, "mean": [float(v) for v in self.mean_],
                "cov": [[float(v) for v in row] for row in self.cov_]}

    @classmethod
    def from_dict(cls, d: dict, *, where=None) -> GaussianImputer:
        try:
            imp = cls(log=bool(d["log"]), ridge=float(d["ridge"]))
            mean = np.asarray(d["mean"], dtype=np.float64)
            cov = np.asarray(d["cov"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"invalid imputer state ({exc})", path=where) from None
        if mean.ndim != 1 or cov.shape != (mean.size, mean.size) or not (np.isfinite(mean).all()
                                                                         and np.isfinite(cov).all()):
            raise ModelError("invalid imputer state (mean/covariance shapes or values)", path=where)
        imp.mean_, imp.cov_ = mean, cov
        return imp
