"""Anomaly detectors with one interface, scikit-learn estimators with PyOD's outlier API:
``fit(X, y=None)``, ``decision_function(X)`` (higher = more anomalous), ``score_samples(X)``
(its negative: scikit-learn's higher = more normal), ``predict(X)`` (0 inlier / 1 outlier
at ``threshold_``, set by ``contamination``), ``save(path)``, ``load(path)``.

- :class:`ALAD` (``alad``): adversarially learned anomaly detection, the method.
- :class:`VAE` (``vae``) and :class:`AutoEncoder` (``autoencoder``): reconstruction models.
- :class:`IsolationForest` (``iforest``), :class:`RobustMahalanobis` (``mahalanobis``, MCD)
  and :class:`PCAReconstruction` (``pca``): scikit-learn baselines.
- :class:`Ensemble` (``ensemble``): N seeds of one detector, mean calibrated percentile.

``DETECTORS`` maps the registry names (used by the CLI and pipeline specs) to the classes;
``get_detector(name, **params)`` makes one. Classes load lazily, so the baselines never
import TensorFlow.

This package module only re-exports. The code lives in :mod:`~geogan.detectors.base` (the
:class:`Detector` interface), :mod:`~geogan.detectors.registry` (names → classes),
:mod:`~geogan.detectors.modelfile` (model directories and their checks),
:mod:`~geogan.detectors.netfiles` (a neural detector's networks on disk),
:mod:`~geogan.detectors.neural` (:class:`NeuralDetector`, the TensorFlow training machinery),
:mod:`~geogan.detectors.optim` (its optimiser pieces), :mod:`~geogan.detectors.checkpoint`
(resumable training state) and one module per family of detectors (ALAD's estimator in
:mod:`~geogan.detectors.alad`, its networks in :mod:`~geogan.detectors.aladnet`, a stacked
seed ensemble in :mod:`~geogan.detectors.stacked` and :mod:`~geogan.detectors.stackednet`;
the baselines in :mod:`~geogan.detectors.baselines` and :mod:`~geogan.detectors.covariance`).

>>> from geogan.detectors import get_detector
>>> get_detector("iforest", n_estimators=50)
IsolationForest(n_estimators=50)
"""

from __future__ import annotations

from geogan._lazy import lazy_exports
from geogan.detectors.base import Detector
from geogan.detectors.neural import NeuralDetector
from geogan.detectors.registry import DETECTORS, class_modules, detector_class, get_detector

# the detector classes, from the registry's table (registering a detector there exports it)
_LAZY = class_modules()

__all__ = sorted(["DETECTORS", "Detector", "NeuralDetector", "detector_class", "get_detector", "load_detector",
                  *_LAZY])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def load_detector(path) -> Detector:
    """Load any saved detector (the kind is read from its ``config.json``).

    Parameters
    ----------
    path
        A directory written by :meth:`Detector.save <geogan.detectors.base.Detector.save>`
        (or a model directory of ``geogan train``, whose ``config.json`` holds the detector);
        a path or an fsspec URL (``s3://bucket/models/iforest``), copied to a local cache first.

    Returns
    -------
    Detector
        The fitted detector, of the kind saved.

    Raises
    ------
    ModelError
        The directory is missing, has no or an unreadable ``config.json``, or holds an unknown
        format, detector or parameter, or weight files that do not fit (checked before any
        weights are read).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from geogan.detectors import IsolationForest, load_detector
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> path = IsolationForest(n_estimators=20).fit(X).save(os.path.join(tempfile.mkdtemp(), "iforest"))
    >>> det = load_detector(path)
    >>> det, det.n_features_in_
    (IsolationForest(n_estimators=20), 3)
    >>> load_detector(os.path.join(path, "missing"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ModelError: ...missing: model directory not found
    """
    return Detector.load(path)
