"""Compositional transforms and robust scaling of concentrations, fitted state as JSON.

Geochemical concentrations are compositions: parts of a whole, positive, right-skewed, and
closed (one element rising makes the others fall). The usual remedy is a log-ratio
transform (Aitchison): ``clr`` (centred log-ratio, one column per element) or ``ilr``
(isometric log-ratio, D-1 orthonormal balances). ``log`` takes plain logarithms; ``none``
leaves values as they are. Every kind is followed by a robust standardisation (subtract the
median, divide by the inter-quartile range) fitted on the *training* cells only, so scoring
any other cell applies exactly the same numbers.

The fitted state (:meth:`Transform.to_dict`) is plain JSON; it travels inside the model
directory, and :meth:`Transform.from_dict` rebuilds an identical transform.

>>> import numpy as np
>>> X = np.array([[1.0, 10.0, 100.0], [2.0, 10.0, 50.0], [4.0, 20.0, 50.0], [1.0, 5.0, 80.0]])
>>> t = Transform("clr", elements=["Ag", "W", "Sn"]).fit(X)
>>> Z = t.transform(X)
>>> Z.shape, Z.dtype.name
((4, 3), 'float32')
>>> t2 = Transform.from_dict(t.to_dict())
>>> bool(np.array_equal(t2.transform(X), Z))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from geogan.choices import TRANSFORMS
from geogan.errors import InputError, ModelError

KINDS = TRANSFORMS
_FORMAT = "geogan-transform"
_FORMAT_VERSION = 1
#: the range a fitted feature's spread (IQR, else std, else 1) can take: a constant element's
#: std is ~1e-15 (rounding), and below 1e-30 the standardised values overflow float32
_SPREAD_RANGE = (1e-30, 1e30)
_DICT_KEYS = {"format", "format_version", "kind", "elements", "scale", "enrichment_only", "center", "iqr",
              "features", "signs"}


def ilr_basis(n_parts: int) -> np.ndarray:
    """Orthonormal pivot (sequential binary partition) basis, shape ``(D, D-1)``.

    Column ``i`` contrasts part ``i`` with the geometric mean of parts ``i+1..D-1``, so
    ``ilr = clr @ V``; ``V.T @ V = I`` and every column sums to zero.

    >>> V = ilr_basis(4)
    >>> V.shape
    (4, 3)
    >>> bool(np.allclose(V.T @ V, np.eye(3)))
    True
    """
    if n_parts < 2:
        raise InputError(f"ilr needs at least 2 elements, got {n_parts}; use 'log' or 'clr' for one element")
    basis = np.zeros((n_parts, n_parts - 1))
    for i in range(n_parts - 1):
        rest = n_parts - i - 1
        coef = math.sqrt(rest / (rest + 1.0))
        basis[i, i] = coef
        basis[i + 1:, i] = -coef / rest
    return basis


class Transform:
    """Log/clr/ilr transform followed by robust (median/IQR) standardisation.

    Parameters
    ----------
    kind
        ``"clr"`` (default), ``"ilr"``, ``"log"`` or ``"none"``. The log-ratio kinds need
        strictly positive concentrations (substitute below-detection values first).
    elements
        Names of the input columns, in order (kept in the fitted state and in errors).
    scale
        Apply the robust standardisation after the transform (default True).
    enrichment_only
        Clip each standardised feature at 0 from below (False): a value below the training
        median is replaced by the median, so only enrichments can make a cell anomalous.
        Mineralisation raises concentrations; depletions (a different lithology, leaching,
        a laboratory's low batch) rank barren ground high under a two-sided score. Needs
        ``scale`` (the median must be 0) and a per-element kind (not ``ilr``).
    signs
        Direction that matters per element, ``{element: -1}`` for an element whose
        *depletion* marks what is looked for (the deposit model's "-" elements, see
        :mod:`geogan.survey.pathfinders`): its standardised feature is negated before clipping, so
        a depletion counts as an enrichment does. Default: +1 for every element.

    Attributes
    ----------
    center_ : ndarray
        Median of each transformed feature over the fitting cells.
    iqr_ : ndarray
        Inter-quartile range of each transformed feature (the standard deviation where the
        IQR is zero, 1 where both are zero, so constant features pass through centred).
    features_ : list of str
        Output feature names (element names, or ``ilr1..`` balances).
    """

    def __init__(self, kind: str = "clr", *, elements: Sequence[str] | None = None, scale: bool = True,
                 enrichment_only: bool = False, signs: dict[str, int] | None = None):
        self.kind = kind
        self.elements = None if elements is None else list(elements)
        self.scale = scale
        self.enrichment_only = bool(enrichment_only)
        if signs is not None and not isinstance(signs, dict):
            raise InputError(f"signs must map element names to +1 or -1, got {signs!r}")
        self.signs = {str(k): int(v) for k, v in (signs or {}).items() if int(v) != 1}

    # -- validation ------------------------------------------------------------------------
    def _check_kind(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown transform {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.enrichment_only and (self.kind == "ilr" or not self.scale):
            raise InputError("enrichment_only needs one feature per element centred on its median: use the clr, "
                             "log or none transform with scaling (ilr balances mix elements)")
        if self.signs:
            if self.kind == "ilr" or not self.scale:
                raise InputError("element directions (signs) need one feature per element centred on its median: "
                                 "use the clr, log or none transform with scaling")
            bad = {k: v for k, v in self.signs.items() if v not in (-1, 1) or (self.elements is not None
                                                                                and k not in self.elements)}
            if bad:
                raise InputError(f"signs must map elements of the transform to +1 or -1, got {bad}")

    def sign_vector(self) -> np.ndarray:
        """+1 / -1 per feature (see ``signs``)."""
        names = self.elements or []
        if self.kind == "ilr" or not names:
            return np.ones(len(getattr(self, "center_", [])) or len(names))
        return np.array([self.signs.get(n, 1) for n in names], dtype=np.float64)

    def _check_X(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise InputError(f"expected a 2-D array (cells × elements), got shape {X.shape}")
        names = self.elements
        if names is not None and X.shape[1] != len(names):
            raise InputError(f"expected {len(names)} columns ({', '.join(names)}), got {X.shape[1]}")
        if self.kind in ("clr", "ilr", "log"):
            with np.errstate(invalid="ignore"):
                bad = np.isfinite(X) & (X <= 0)
            if bad.any():
                col = int(np.argmax(bad.sum(axis=0)))
                name = names[col] if names is not None else f"#{col}"
                raise InputError(
                    f"{int(bad.sum())} non-positive value(s) (e.g. {X[bad][0]:g}); the {self.kind} transform "
                    f"takes logarithms: substitute below-detection values (e.g. half the detection limit) "
                    f"before gridding, or use transform 'none'", column=name)
        return X

    def _raw(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return X
        logs = np.log(X)
        if self.kind == "log":
            return logs
        clr = logs - logs.mean(axis=1, keepdims=True)
        if self.kind == "clr":
            return clr
        return clr @ ilr_basis(X.shape[1])

    # -- fit / transform -------------------------------------------------------------------
    def fit(self, X) -> Transform:
        """Learn the median and IQR of the transformed training cells.

        Rows with any NaN are ignored. Raises :class:`~geogan.errors.InputError` for
        non-positive values under a log-ratio kind, or when no complete row remains.
        """
        self._check_kind()
        X = self._check_X(X)
        if self.kind == "ilr" and X.shape[1] < 2:
            ilr_basis(X.shape[1])  # raises the clear message
        if self.kind == "clr" and X.shape[1] < 2:
            raise InputError("the clr of a single element is 0 in every cell, so every cell would score alike: "
                             "use the log transform, or more elements")
        rows = np.isfinite(X).all(axis=1)
        if not rows.any():
            raise InputError("no complete row (every row has a missing value) to fit the transform on")
        names = self.elements or [f"x{i}" for i in range(X.shape[1])]
        constant = np.ptp(X[rows], axis=0) == 0
        if constant.all():
            raise InputError(f"every element ({', '.join(names)}) has one value in all {int(rows.sum()):,} cells "
                             f"(e.g. 100 % below detection): there is nothing to tell cells apart by")
        # elements with one value in every fitting cell (e.g. all below detection) carry no information
        self.constant_ = [n for n, c in zip(names, constant) if c]
        Z = self._raw(X[rows])
        n_out = Z.shape[1]
        if self.scale:
            q25, center, q75 = np.percentile(Z, [25, 50, 75], axis=0)
            iqr = q75 - q25
            # a feature with a zero IQR (mostly one value) would divide by zero: fall back
            # to its standard deviation, then to 1
            std = Z.std(axis=0)
            iqr = np.where(iqr > 0, iqr, np.where(std > 0, std, 1.0))
        else:
            center, iqr = np.zeros(n_out), np.ones(n_out)
        self.center_ = np.asarray(center, dtype=np.float64)
        self.iqr_ = np.asarray(iqr, dtype=np.float64)
        self.features_ = [f"ilr{i + 1}" for i in range(n_out)] if self.kind == "ilr" else list(names)
        self.n_elements_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Apply the fitted transform; float32 ``(n, n_features)``, NaN rows stay NaN."""
        if not hasattr(self, "center_"):
            raise ModelError("the transform is not fitted; call fit() first")
        X = self._check_X(X)
        if X.shape[1] != self.n_elements_:
            raise InputError(f"expected {self.n_elements_} columns, got {X.shape[1]}")
        with np.errstate(invalid="ignore", divide="ignore"):
            Z = (self._raw(X) - self.center_) / self.iqr_
        if self.signs:
            Z = Z * self.sign_vector()
        if self.enrichment_only:
            Z = np.where(Z < 0, 0.0, Z)  # NaN stays NaN
        return Z.astype(np.float32)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    @property
    def n_features_out(self) -> int:
        return len(self.center_)

    # -- JSON state ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fitted state as JSON-able types (floats written exactly, as repr)."""
        if not hasattr(self, "center_"):
            raise ModelError("the transform is not fitted; call fit() first")
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "kind": self.kind,
            "elements": list(self.elements) if self.elements is not None else None,
            "scale": bool(self.scale),
            "enrichment_only": bool(self.enrichment_only),
            "center": [float(v) for v in self.center_],
            "iqr": [float(v) for v in self.iqr_],
            "features": list(self.features_),
            **({"signs": dict(self.signs)} if self.signs else {}),
        }

    @classmethod
    def from_dict(cls, state: dict) -> Transform:
        """Rebuild a fitted transform from :meth:`to_dict` output.

        Raises :class:`~geogan.errors.ModelError` when the state is not a valid transform
        (including a centre or IQR that is not finite: it would turn every score into NaN).
        """
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ModelError("the transform state is not a geogan transform (no format marker)")
        unknown = set(state) - _DICT_KEYS
        if unknown:
            raise ModelError(f"unknown keys in the transform state: {', '.join(sorted(unknown))}")
        if state.get("format_version") != _FORMAT_VERSION:
            raise ModelError(f"transform state version {state.get('format_version')} is not supported "
                             f"(this geogan reads {_FORMAT_VERSION})")
        try:
            t = cls(state["kind"], elements=state["elements"], scale=bool(state["scale"]),
                    enrichment_only=bool(state.get("enrichment_only", False)), signs=state.get("signs"))
            t._check_kind()
            center = np.asarray(state["center"], dtype=np.float64)
            iqr = np.asarray(state["iqr"], dtype=np.float64)
            features = [str(f) for f in state["features"]]
        except (KeyError, TypeError, ValueError, InputError) as exc:
            raise ModelError(f"invalid transform state: {exc}") from None
        n_el = len(t.elements) if t.elements is not None else None
        n_out = center.size
        expected = None if n_el is None else (n_el - 1 if t.kind == "ilr" else n_el)
        if center.ndim != 1 or iqr.shape != center.shape or len(features) != n_out or (
                expected is not None and expected != n_out) or not np.all(np.isfinite(iqr) & (iqr > 0)):
            raise ModelError("invalid transform state: centre/IQR/feature lengths disagree or IQR is not positive")
        if not np.all((iqr >= _SPREAD_RANGE[0]) & (iqr <= _SPREAD_RANGE[1])):  # 1e-300 would make every score inf
            bad = int(np.flatnonzero((iqr < _SPREAD_RANGE[0]) | (iqr > _SPREAD_RANGE[1]))[0])
            raise ModelError(f"invalid transform state: 'iqr' of feature {features[bad]!r} is {iqr[bad]:g}, outside "
                             f"{_SPREAD_RANGE[0]:g}..{_SPREAD_RANGE[1]:g}: no fitted transform has it, and scores would be infinite")
        if not np.all(np.isfinite(center)):
            bad = features[int(np.flatnonzero(~np.isfinite(center))[0])]
            raise ModelError(f"invalid transform state: 'center' must be finite numbers, got {center.tolist()} "
                             f"(feature {bad!r})")
        t.center_, t.iqr_, t.features_ = center, iqr, features
        t.n_elements_ = n_el if n_el is not None else (n_out + 1 if t.kind == "ilr" else n_out)
        return t

    def __repr__(self) -> str:
        extra = (", enrichment_only=True" if self.enrichment_only else "") + (f", signs={self.signs!r}" if self.signs
                                                                             else "")
        return f"Transform({self.kind!r}, elements={self.elements!r}, scale={self.scale!r}{extra})"
