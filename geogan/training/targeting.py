"""Target-aware scores: the commodity element's own evidence fused with its suite's anomaly.

A plain anomaly map ranks a cell by how unusual its whole composition is; on real surveys the
most unusual compositions are often unrelated to what a user explores for (mafic Ni-Co-Cr
highs, granites, black shales, a laboratory's batch). A target-aware model is told the target
(``geogan train --target Au`` / ``--deposit-type orogenic-au``, see :mod:`geogan.survey.pathfinders`)
and scores a cell with two pieces of evidence, each a percentile among the training cells:

1. **the target element**, and
2. **the suite's multivariate anomaly**: the detector's score on the deposit type's
   pathfinders (element selection: the unrelated elements never reach the detector),

both **corrected for the matrix**: each suite element's log concentration minus what the
grid's *matrix* elements (:data:`MATRIX_ELEMENTS`: rock-forming and resistate-mineral
elements and the Fe-Mn oxide scavengers, outside the deposit type's suite) predict for it,
by a robust (Huber) linear regression fitted on the training cells: the background
regression of exploration geochemistry (Rose, Dahlberg & Keith 1970, Economic Geology 65;
Carranza 2010, Geochemistry: Exploration, Environment, Analysis 10). A high that the host
rock explains (Au with Ni-Co over mafic rocks) is discounted. A deposit type whose mineral
system belongs to a rock (its catalogue ``host``: the granite of a W-Sn or LCT deposit, the
mafic magmatism of a Ni-Cu-PGE one) is not corrected by default: every matrix element is a
proxy of that rock. The corrected concentration is ``x · exp(-b·p)``, with ``p`` the
standardised log predictors (0 at their training mean), so at an average host it is the
measured value, in its unit; with no matrix element in the grid nothing is corrected.

The cell's score is ``100 × (w · P_target + (1 − w) · P_suite)`` with ``w = 0.5`` (the
commodity counts as much as its whole suite). Percentiles are computed against 1,025 stored
quantiles of the training cells (:func:`geogan.detectors.ensemble.to_percentile`), so scoring
needs no global sort and a tile scores the same wherever it is.

What lives here: :data:`MATRIX_ELEMENTS`, :func:`matrix_predictors`, what a target means on a
grid (:func:`check_target_options`, :func:`plan_target`, :class:`TargetPlan`) and
:class:`TargetScorer` (the correction and the score: fit, score, JSON state). What does not:
the catalogue (:mod:`geogan.survey.pathfinders`), training (:mod:`geogan.training.stage`), loading a model
(:mod:`geogan.training.model`).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.exp(rng.normal(size=(500, 2)))                    # Au, Ni
>>> X[:, 0] *= X[:, 1] ** 0.8                               # Au follows Ni (a mafic host)
>>> ts = TargetScorer(target="Au", elements=["Au", "Ni"], predictors=["Ni"]).fit_correction(X)
>>> ts = ts.fit_scores(X, suite_scores=rng.random(500))
>>> cells = np.array([[20.0, 20.0], [20.0, 0.5]])            # the same Au on a mafic and a felsic host
>>> s = ts.score(cells, np.array([0.5, 0.5]))
>>> bool(s[1] > s[0])                                       # Au the host does not explain ranks higher
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from geogan.detectors.ensemble import calibrate, to_percentile
from geogan.survey.elements import element_of
from geogan.errors import ConfigError, ModelError
from geogan.survey.pathfinders import HOST_ROCKS, TargetSpec, catalogue, resolve_target

log = logging.getLogger(__name__)

__all__ = ["MATRIX_ELEMENTS", "DEFAULT_TARGET_WEIGHT", "matrix_predictors", "TargetPlan", "plan_target",
           "check_target_options", "TargetScorer"]

#: Elements that describe a sample's matrix (host rock, weathering, scavenging) rather than
#: mineralisation: the major elements, the mafic group (Cr, Ni, Co, V, Sc), the felsic and
#: resistate group (Zr, Hf, Th, Y, La, Ce, Rb, Sr) and Mn (Fe-Mn oxide scavenging). An
#: element of the deposit type's suite (pathfinders or alteration) is never a predictor.
MATRIX_ELEMENTS = ("Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "Mn", "P", "Cr", "Ni", "Co", "V", "Sc", "Zr",
                   "Hf", "Th", "Y", "La", "Ce", "Rb", "Sr")
#: Share of the target element's own evidence in the target-aware score.
DEFAULT_TARGET_WEIGHT = 0.5
# robust regression: cells used (at most), Huber's epsilon (1.35 = 95 % efficiency at the normal)
_FIT_CELLS = 50_000
_EPSILON = 1.35


def matrix_predictors(grid_elements, exclude) -> list[str]:
    """The grid's matrix elements (:data:`MATRIX_ELEMENTS`, by element or oxide) that are not
    in ``exclude`` (the suite, the deposit type's pathfinders and alteration elements: grid
    names or element symbols).

    >>> matrix_predictors(["Au", "Ni", "Co", "K2O", "As"], exclude=["Au", "As", "K"])
    ['Ni', 'Co']
    """
    excluded = {element_of(str(e)) for e in exclude}
    return [g for g in grid_elements if element_of(g) in MATRIX_ELEMENTS and element_of(g) not in excluded]


def check_target_options(*, target: str | None, deposit_type: str | None, catalogue_path=None,
                         alteration: bool = False) -> None:
    """What can be checked of a target without a grid (``geogan run`` checks every table so,
    before any stage runs): the target is an element symbol, the deposit type and the
    catalogue file exist, and catalogue/alteration come with a target."""
    from geogan.survey.elements import ELEMENT_SYMBOLS

    if target is not None and element_of(target) not in ELEMENT_SYMBOLS:
        raise ConfigError(f"target {target!r} is not an element symbol (e.g. Au, Cu, W)")
    if deposit_type is not None or catalogue_path is not None:
        types = catalogue(catalogue_path).types
        if deposit_type is not None and deposit_type not in types:
            raise ConfigError(f"unknown deposit type {deposit_type!r}; the catalogue has {', '.join(sorted(types))} "
                              f"('geogan pathfinders' lists them)")
    if target is None and deposit_type is None and (catalogue_path or alteration):
        raise ConfigError("catalogue and alteration describe a target: give a target (--target Au) or a deposit "
                          "type (--deposit-type orogenic-au)")


@dataclass
class TargetPlan:
    """What a target-aware model reads: the detector's elements (the suite, or the user's
    ``elements``), then the matrix predictors; ``elements`` is both, in that order."""

    spec: TargetSpec
    detector_elements: list[str]
    predictors: list[str]

    @property
    def elements(self) -> list[str]:
        return self.detector_elements + [p for p in self.predictors if p not in self.detector_elements]


def plan_target(grid_elements, *, target: str | None, deposit_type: str | None, catalogue_path=None,
                alteration: bool = False, matrix_correction: bool | None = None, elements=None) -> TargetPlan:
    """Resolve a target on a grid's elements (:func:`geogan.survey.pathfinders.resolve_target`): the
    detector's elements (the suite present, or ``elements`` when given, which must hold the
    target) and the matrix predictors (with ``matrix_correction``: the grid's
    :data:`MATRIX_ELEMENTS` outside the suite, the type's pathfinders and alteration, and the
    elements of its host rocks, :data:`geogan.survey.pathfinders.HOST_ROCKS`).

    ``matrix_correction=None`` (the default) corrects only for a deposit type without a
    ``host``: where the deposit belongs to a rock (a granite, a mafic intrusion), every
    matrix element is a proxy of that rock, and regressing the target on them discounts the
    deposits themselves (README "Target-aware maps": national window, GTK till).

    >>> plan = plan_target(["Au", "As", "Ni", "Co", "K2O"], target="Au", deposit_type=None)
    >>> plan.detector_elements, plan.predictors
    (['Au', 'As'], ['Ni', 'Co'])
    >>> plan_target(["W", "Sn", "Cr", "K2O"], target="W", deposit_type=None).predictors   # a granite-related type
    []
    >>> plan_target(["W", "Sn", "Cr", "K2O"], target="W", deposit_type=None, matrix_correction=True).predictors
    ['Cr']
    """
    grid_elements = [str(e) for e in grid_elements]
    spec = resolve_target(target, deposit_type, grid_elements, catalogue_path=catalogue_path, alteration=alteration)
    if elements is None:
        detector_elements = list(spec.suite)
    else:
        detector_elements = list(elements)
        if spec.target not in detector_elements:
            raise ConfigError(f"the target {spec.target} must be among the elements ({', '.join(detector_elements)})")
    predictors = []
    dtype = catalogue(catalogue_path).types[spec.deposit_type] if spec.deposit_type is not None else None
    if matrix_correction is None:
        matrix_correction = dtype is None or not dtype.host
    if matrix_correction:
        exclude = set(spec.suite) | set(detector_elements)
        if dtype is not None:
            exclude |= set(dtype.pathfinders) | set(dtype.alteration)
            exclude |= {el for rock in dtype.host for el in HOST_ROCKS[rock]}  # the deposit model's own rocks
        predictors = matrix_predictors(grid_elements, exclude)
    log.info(f"target {spec.target}" + (f" ({spec.deposit_type}: {spec.name})" if spec.deposit_type else
                                         " (no deposit type in the catalogue: the target alone is its suite)")
             + f"; detector elements {', '.join(detector_elements)}"
             + (f"; matrix predictors {', '.join(predictors)}" if predictors else
                "; no matrix correction" + (f" ({dtype.key} belongs to {' and '.join(dtype.host)} rocks)"
                                            if dtype is not None and dtype.host and matrix_correction is False
                                            else ""))
             + (f"; left out: {', '.join(e for e in spec.others if e not in predictors)}" if spec.others else ""))
    return TargetPlan(spec, detector_elements, predictors)


class TargetScorer:
    """The matrix correction and the target-aware score of a model (see the module docstring).

    Parameters
    ----------
    target
        The target element (one of ``detector_elements``).
    elements
        The model's elements, in the order of the raw arrays given to the methods.
    detector_elements
        The suite the detector sees (default: every element that is not a predictor).
    predictors
        Matrix elements the suite is corrected for (may be empty: no correction).
    weight
        Share of the target's evidence, in [0, 1] (``DEFAULT_TARGET_WEIGHT``).
    info
        What the user asked and the catalogue said (deposit type, suite, references), kept
        with the model for reports.
    """

    def __init__(self, *, target: str, elements, detector_elements=None, predictors=(),
                 weight: float = DEFAULT_TARGET_WEIGHT, info: dict | None = None):
        self.target = str(target)
        self.elements = [str(e) for e in elements]
        self.predictors = [str(e) for e in predictors]
        self.detector_elements = ([str(e) for e in detector_elements] if detector_elements is not None else
                                  [e for e in self.elements if e not in self.predictors])
        self.weight = float(weight)
        self.info = dict(info or {})
        if self.target not in self.detector_elements:
            raise ConfigError(f"the target {self.target!r} is not among the detector's elements "
                              f"({', '.join(self.detector_elements)})")
        unknown = [e for e in self.detector_elements + self.predictors if e not in self.elements]
        overlap = [e for e in self.predictors if e in self.detector_elements]
        if unknown or overlap:
            raise ConfigError(f"predictors and detector elements must be distinct model elements; got "
                              f"{', '.join(unknown + overlap)}")
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"target_weight must be in [0, 1], got {weight!r}")

    # -- the matrix correction --------------------------------------------------------------
    def _columns(self, X, names: list[str]) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, [self.elements.index(n) for n in names]]

    def _predictor_scores(self, X) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(np.maximum(self._columns(X, self.predictors), 1e-30))
        return (logs - self.center_) / self.scale_

    def corrected(self, X_raw) -> np.ndarray:
        """The detector's elements corrected for the matrix: ``x · exp(-b·p)`` (float64,
        ``(n, len(detector_elements))``, in the elements' units)."""
        D = self._columns(X_raw, self.detector_elements)
        if not self.predictors:
            return D
        return D * np.exp(-(self._predictor_scores(X_raw) @ self.coef_))

    def fit_correction(self, X_raw, *, seed: int = 0) -> TargetScorer:
        """Fit the robust regression of every detector element on the predictors (training cells)."""
        X = np.asarray(X_raw, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.elements):
            raise ConfigError(f"expected cells of the model's {len(self.elements)} elements, got shape {X.shape}")
        X = X[np.isfinite(X).all(axis=1)]
        n_det = len(self.detector_elements)
        self.coef_ = np.zeros((len(self.predictors), n_det))
        self.center_ = np.zeros(len(self.predictors))
        self.scale_ = np.ones(len(self.predictors))
        self.r2_ = np.zeros(n_det)
        if not self.predictors or X.shape[0] < 2:
            return self
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import HuberRegressor

        with np.errstate(divide="ignore"):
            P = np.log(np.maximum(self._columns(X, self.predictors), 1e-30))
            Y = np.log(np.maximum(self._columns(X, self.detector_elements), 1e-30))
        self.center_ = P.mean(axis=0)
        sd = P.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        Ps = (P - self.center_) / self.scale_
        rows = np.random.default_rng(seed).permutation(len(Ps))[:_FIT_CELLS]
        for k in range(n_det):
            reg = HuberRegressor(epsilon=_EPSILON, max_iter=1000)
            with warnings.catch_warnings():  # lbfgs stopping at max_iter still gives a usable fit
                warnings.simplefilter("ignore", ConvergenceWarning)
                reg.fit(Ps[rows], Y[rows, k])
            self.coef_[:, k] = reg.coef_
            resid = Y[:, k] - reg.intercept_ - Ps @ reg.coef_
            self.r2_[k] = 1.0 - resid.var() / max(Y[:, k].var(), 1e-300)
        return self

    # -- the score -----------------------------------------------------------------------------
    def _target_log(self, X_raw) -> np.ndarray:
        k = self.detector_elements.index(self.target)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.maximum(self.corrected(X_raw)[:, k], 1e-30))

    def fit_scores(self, X_raw, suite_scores) -> TargetScorer:
        """Fit both reference distributions on the training cells (``suite_scores``: the
        detector's scores of the same cells)."""
        s = np.asarray(suite_scores, dtype=np.float64)
        t = self._target_log(X_raw)
        ok = np.isfinite(t) & np.isfinite(s)
        if ok.sum() < 2:
            raise ConfigError("too few complete training cells to fit the target-aware score")
        self.target_quantiles_ = calibrate(t[ok])
        self.suite_quantiles_ = calibrate(s[ok])
        return self

    def score(self, X_raw, suite_scores) -> np.ndarray:
        """Target-aware score (float32, 0–100 over the training cells, beyond at the extremes)
        of cells ``X_raw`` whose suite scores are ``suite_scores``."""
        parts = self.parts(X_raw, suite_scores)
        return (self.weight * parts["target"] + (1.0 - self.weight) * parts["suite"]).astype(np.float32)

    def parts(self, X_raw, suite_scores) -> dict[str, np.ndarray]:
        """The two pieces of evidence as percentiles (0–100): ``target`` and ``suite``."""
        if not hasattr(self, "target_quantiles_"):
            raise ModelError("the target-aware scorer is not fitted")
        return {"target": 100.0 * to_percentile(self._target_log(X_raw), self.target_quantiles_),
                "suite": 100.0 * to_percentile(np.asarray(suite_scores, np.float64), self.suite_quantiles_)}

    def describe(self) -> str:
        """One line for logs and reports."""
        kind = self.info.get("deposit_type") or "no deposit type"
        text = (f"target {self.target} ({kind}; suite {', '.join(self.detector_elements)}); score = "
                f"{self.weight:g} × percentile of {self.target} + {1 - self.weight:g} × percentile of the suite's "
                f"anomaly")
        if self.predictors:
            r2 = float(self.r2_[self.detector_elements.index(self.target)]) if hasattr(self, "r2_") else 0.0
            text += f", corrected for {', '.join(self.predictors)} ({self.target} R² {r2:.2f})"
        return text

    # -- JSON state ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        if not hasattr(self, "target_quantiles_"):
            raise ModelError("the target-aware scorer is not fitted")
        return {"target": self.target, "elements": list(self.elements),
                "detector_elements": list(self.detector_elements), "predictors": list(self.predictors),
                "weight": self.weight, "coef": self.coef_.tolist(), "center": self.center_.tolist(),
                "scale": self.scale_.tolist(), "r2": self.r2_.tolist(),
                "target_quantiles": self.target_quantiles_.tolist(), "suite_quantiles": self.suite_quantiles_.tolist(),
                "info": dict(self.info)}

    @classmethod
    def from_dict(cls, d, *, where=None) -> TargetScorer:
        """Rebuild a fitted scorer from :meth:`to_dict`; :class:`~geogan.errors.ModelError`
        (naming ``where``) when the state is not valid."""
        try:
            ts = cls(target=d["target"], elements=d["elements"], detector_elements=d["detector_elements"],
                     predictors=d.get("predictors") or (), weight=d.get("weight", DEFAULT_TARGET_WEIGHT),
                     info=d.get("info") or {})
            n_p, n_d = len(ts.predictors), len(ts.detector_elements)
            coef = np.asarray(d["coef"], dtype=np.float64).reshape(n_p, n_d)
            arrays = {k: np.asarray(d[k], dtype=np.float64) for k in ("center", "scale", "r2", "target_quantiles",
                                                                       "suite_quantiles")}
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
            raise ModelError(f"invalid target section: {exc}", path=where) from None
        ok = (arrays["center"].shape == (n_p,) and arrays["scale"].shape == (n_p,) and arrays["r2"].shape == (n_d,)
              and arrays["target_quantiles"].shape == (1025,) and arrays["suite_quantiles"].shape == (1025,)
              and np.isfinite(coef).all() and all(np.isfinite(a).all() for a in arrays.values())
              and (arrays["scale"] > 0).all())
        if not ok:
            raise ModelError("invalid target section: coefficients, scales or quantiles of the wrong size or not "
                             "finite", path=where)
        ts.coef_, ts.center_, ts.scale_, ts.r2_ = coef, arrays["center"], arrays["scale"], arrays["r2"]
        ts.target_quantiles_, ts.suite_quantiles_ = arrays["target_quantiles"], arrays["suite_quantiles"]
        return ts
