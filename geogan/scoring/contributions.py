"""Which elements drive each cell's anomaly score: occlusion contributions.

For a trained model and raw concentrations, :func:`element_contributions` asks, element by
element, *how much would this cell's score fall if that element were at background?* The
cell is transformed to the model's standardised features ``Z`` (where 0 is the training
median of each feature) and scored (``s``); then element ``i`` is put at background, so
that its feature is 0, and the cell is scored again (``s_i``). The contribution of element
``i`` is ``max(s - s_i, 0) * sign(Z_i)``: its size is the score the element's deviation
from background accounts for, its sign says whether an enrichment (positive) or a depletion
(negative) is responsible; an element whose deviation lowers the score (an enrichment that
fits the background's correlation) gets 0. The method only calls the score function, so it works the same
for every detector (IsolationForest, PCA, Mahalanobis, the networks); it costs one extra
scoring pass per element.

"At background" is an occlusion in composition space. With the ``log`` and ``none``
transforms it is exactly ``Z`` with column ``i`` set to 0 (the others unchanged). With
``clr`` the element's concentration is moved until its centred log-ratio is the training
median, and the closure moves the other parts' log-ratios by ``1/(D-1)`` of that shift:
zeroing one clr feature alone would show the detector a composition that cannot exist
(clr rows sum to zero), and a detector that learnt that constraint (PCA, the networks)
would score the occluded cell *higher*, inverting the attribution.

Contributions need one feature per element: the ``clr``, ``log`` and ``none`` transforms
qualify; ``ilr`` balances mix elements, so an ``ilr`` model raises
:class:`~geogan.errors.ConfigError`. With ``clr`` an enrichment of one element lowers the
centred log-ratios of all others slightly, so the strongly enriched elements come out
positive and the rest may carry small negative contributions.

:mod:`geogan.evaluation.drivers` reads them back: the report's "top anomalies" table and the
elements driving each deposit's cell.

>>> import numpy as np
>>> from pathlib import Path
>>> from geogan.detectors.covariance import RobustMahalanobis
>>> from geogan.training.model import TrainedModel
>>> from geogan.training.transform import Transform
>>> rng = np.random.default_rng(0)
>>> X = np.exp(rng.normal(size=(500, 3)))                  # background: Cu, W, Zn
>>> t = Transform("log", elements=["Cu", "W", "Zn"]).fit(X)
>>> det = RobustMahalanobis().fit(t.transform(X))
>>> model = TrainedModel(Path("."), {"elements": ["Cu", "W", "Zn"]}, det, t)
>>> cell = np.array([[1.0, 200.0, 1.0], [np.nan, 1.0, 1.0]])  # W-rich cell; a cell with no Cu
>>> c = element_contributions(model, cell)
>>> c.shape, c.dtype.name
((2, 3), 'float32')
>>> ["Cu", "W", "Zn"][int(np.argmax(c[0]))], bool(c[0, 1] > 0), bool(np.isnan(c[1]).all())
('W', True, True)
"""

from __future__ import annotations

import numpy as np

from geogan.errors import ConfigError, InputError

__all__ = ["element_contributions", "check_supported"]

#: Transform kinds whose features are the elements, one to one.
SUPPORTED_TRANSFORMS = ("clr", "log", "none")


def check_supported(model) -> None:
    """Raise :class:`~geogan.errors.ConfigError` unless ``model``'s features map one to one
    onto its elements (transform ``clr``, ``log`` or ``none``)."""
    kind = getattr(model.transform, "kind", None)
    if kind not in SUPPORTED_TRANSFORMS:
        raise ConfigError(
            f"per-element contributions need one feature per element, but this model uses the {kind!r} "
            f"transform (its features are balances of several elements); retrain with transform "
            f"{', '.join(repr(k) for k in SUPPORTED_TRANSFORMS)} to get contributions")
    det_elements = list(getattr(model, "detector_elements", model.elements))
    if model.transform.n_features_out != len(det_elements):
        raise ConfigError(f"the model has {model.transform.n_features_out} features for {len(det_elements)} "
                          f"elements; contributions need one feature per element")


def _scorer(model):
    """Score already-transformed features (higher = more anomalous): the model's own
    ``score_transformed`` (ensembles) when it has one, else the detector's
    ``decision_function``."""
    fn = getattr(model, "score_transformed", None)
    return fn if callable(fn) else model.detector.decision_function


def _at_background(transform, X: np.ndarray, i: int) -> np.ndarray:
    """``X`` (float64, complete rows) with element ``i`` at background: the concentration
    whose transformed feature is the training median (see the module docstring)."""
    out = X.copy()
    center = float(transform.center_[i])
    if transform.kind == "none":
        out[:, i] = center
    elif transform.kind == "log":
        out[:, i] = np.exp(center)
    elif X.shape[1] > 1:  # clr: shift log x_i so that clr_i = centre; the closure shifts the rest
        logs = np.log(X)
        clr_i = logs[:, i] - logs.mean(axis=1)
        d = X.shape[1]
        out[:, i] = np.exp(logs[:, i] + d / (d - 1) * (center - clr_i))
    return out


def element_contributions(model, X_raw) -> np.ndarray:
    """Signed occlusion contribution of every element to every cell's anomaly score.

    Parameters
    ----------
    model : geogan.training.model.TrainedModel
        A loaded model (:func:`geogan.training.model.load_model`) with a ``clr``, ``log`` or ``none``
        transform.
    X_raw : array-like, shape (n, n_elements)
        Concentrations in the grid's units, columns in ``model.elements`` order.

    Returns
    -------
    ndarray, shape (n, n_elements), float32
        ``max(s - s_i, 0) * sign(Z[:, i])`` where ``Z`` are the standardised features, ``s``
        the score of ``Z`` and ``s_i`` the score with element ``i`` at background (feature
        ``i`` at 0, the training median; for ``clr`` the other features shift by the
        closure). Positive: the element's enrichment raises the score; negative: its
        depletion does; 0: putting it at background would not lower the score.
        Rows with any NaN input are NaN throughout.

    Raises
    ------
    ConfigError
        The model's transform is ``ilr`` (features are not elements).
    InputError
        ``X_raw`` is not ``(n, n_elements)``.

    Examples
    --------
    See the module docstring for a runnable example.
    """
    check_supported(model)
    X = np.asarray(X_raw, dtype=np.float32)
    n_el = len(model.elements)
    if X.ndim != 2 or X.shape[1] != n_el:
        raise InputError(f"expected an array (cells × {n_el} elements: {', '.join(model.elements)}), "
                         f"got shape {X.shape}")
    out = np.full(X.shape, np.nan, dtype=np.float32)
    valid = np.isfinite(X).all(axis=1)
    if not valid.any():
        return out
    if getattr(model, "target", None) is not None:
        out[valid] = _target_contributions(model, X[valid].astype(np.float64))
        return out
    score, transform = _scorer(model), model.transform
    cells = X[valid].astype(np.float64)
    Z = np.ascontiguousarray(transform.transform(cells), dtype=np.float32)
    s = np.asarray(score(Z), dtype=np.float64)
    contrib = np.empty(Z.shape, dtype=np.float64)
    for i in range(n_el):
        occluded = np.ascontiguousarray(transform.transform(_at_background(transform, cells, i)))
        occluded[:, i] = 0.0  # exactly the median (the transform gives it up to rounding)
        contrib[:, i] = s - np.asarray(score(occluded), dtype=np.float64)
    # only what raises the score: an element whose deviation *lowers* it (an enrichment
    # that fits the background's correlation, as under Mahalanobis) drives nothing, and a
    # negative value must mean a depletion, never "an enrichment that holds the score down"
    out[valid] = (np.maximum(contrib, 0.0) * np.sign(Z) * model.transform.sign_vector()).astype(np.float32)
    return out


def _target_contributions(model, cells: np.ndarray) -> np.ndarray:
    """Contributions to a target-aware model's score (:mod:`geogan.training.targeting`), by occlusion
    of the raw concentrations: a suite element goes to the concentration whose (matrix-
    corrected) feature is the training median, as above; a matrix predictor to its mean log
    concentration (where it corrects nothing). The sign is the element's deviation from that
    background: ``Ni−`` on a gold cell says that a low Ni (no mafic host to explain the Au)
    raises the score."""
    elements, transform, target = model.elements, model.transform, model.target
    det_elements = model.detector_elements
    det_cols = [elements.index(e) for e in det_elements]
    s = np.asarray(model.score(cells), dtype=np.float64)
    contrib = np.empty(cells.shape, dtype=np.float64)
    sign = np.empty(cells.shape, dtype=np.float64)
    corrected = target.corrected(cells)
    factor = corrected / cells[:, det_cols]  # exp(-b·p): raw → corrected, per suite element
    Z = transform.transform(corrected).astype(np.float64) * transform.sign_vector()
    for i, name in enumerate(elements):
        occluded = cells.copy()
        if name in det_elements:
            k = det_elements.index(name)
            occluded[:, det_cols] = _at_background(transform, corrected, k) / factor
            sign[:, i] = np.sign(Z[:, k])
        else:
            j = target.predictors.index(name)
            occluded[:, i] = float(np.exp(target.center_[j]))
            sign[:, i] = np.sign(np.log(np.maximum(cells[:, i], 1e-30)) - target.center_[j])
        contrib[:, i] = s - np.asarray(model.score(occluded), dtype=np.float64)
    return (np.maximum(contrib, 0.0) * sign).astype(np.float32)
