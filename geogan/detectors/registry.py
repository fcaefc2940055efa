"""The detector registry: registry names (``"alad"``, ``"iforest"``, ...) to classes.

Holds the name → ``module:Class`` table (the one place a detector is registered),
:data:`DETECTORS` (a mapping that imports a class's module on first access, so the
scikit-learn baselines never import TensorFlow), :func:`detector_class`, :func:`get_detector`
and :func:`class_modules` (the package's lazy exports, from the same table). The CLI, pipeline
specs, model files and checkpoints name detectors by these names.

Must not hold: detector code (:mod:`geogan.detectors.base` and the detector modules), model
files (:mod:`geogan.detectors.modelfile`), or any import of a detector module at import time.

>>> "pca" in DETECTORS, "gan" in DETECTORS
(True, False)
>>> detector_class("pca").__name__
'PCAReconstruction'
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from geogan.errors import ConfigError

if TYPE_CHECKING:
    from geogan.detectors.base import Detector

_REGISTRY: dict[str, str] = {
    "alad": "geogan.detectors.alad:ALAD",
    "vae": "geogan.detectors.vae:VAE",
    "autoencoder": "geogan.detectors.vae:AutoEncoder",
    "iforest": "geogan.detectors.baselines:IsolationForest",
    "mahalanobis": "geogan.detectors.covariance:RobustMahalanobis",
    "pca": "geogan.detectors.covariance:PCAReconstruction",
    "ensemble": "geogan.detectors.ensemble:Ensemble",
}


class _LazyRegistry(Mapping):
    """``name -> detector class``; a class's module (and TensorFlow) loads on first access.
    ``name in DETECTORS`` and iterating the names import nothing."""

    def __getitem__(self, name: str) -> type[Detector]:
        try:
            target = _REGISTRY[name]
        except KeyError:
            raise KeyError(name) from None
        module, cls = target.split(":")
        return getattr(importlib.import_module(module), cls)

    def __contains__(self, name) -> bool:
        return name in _REGISTRY

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return f"DETECTORS({', '.join(_REGISTRY)})"


#: Registry name → detector class, loaded lazily.
DETECTORS: Mapping[str, type[Detector]] = _LazyRegistry()


def class_modules() -> dict[str, str]:
    """Class name → the module defining it, for every registered detector: what
    :mod:`geogan.detectors` exports lazily (read from the registry's table, so a detector is
    registered in one place).

    Returns
    -------
    dict
        ``{"ALAD": "geogan.detectors.alad", ...}``, in registry order.

    Examples
    --------
    >>> class_modules()["IsolationForest"]
    'geogan.detectors.baselines'
    """
    return dict(reversed(target.split(":")) for target in _REGISTRY.values())


def detector_class(name: str) -> type[Detector]:
    """The detector class registered as ``name`` (:class:`ConfigError` if unknown).

    Parameters
    ----------
    name
        A registry name: ``alad``, ``vae``, ``autoencoder``, ``iforest``, ``mahalanobis``,
        ``pca`` or ``ensemble`` (the keys of :data:`DETECTORS`).

    Returns
    -------
    type
        The :class:`~geogan.detectors.base.Detector` subclass; its module is imported now.

    Raises
    ------
    ConfigError
        ``name`` is not registered (the message lists the names that are).

    Examples
    --------
    >>> detector_class("iforest").__name__, detector_class("alad").name
    ('IsolationForest', 'alad')
    >>> detector_class("gan")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: unknown detector 'gan'; choose one of alad, vae, autoencoder, iforest, mahalanobis, ...
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown detector {name!r}; choose one of {', '.join(_REGISTRY)}")
    return DETECTORS[name]


def get_detector(name: str, **params) -> Detector:
    """A new, unfitted detector by registry name, e.g. ``get_detector("alad", epochs=10)``.

    Raises :class:`~geogan.errors.ConfigError` for an unknown name or parameter.

    Parameters
    ----------
    name
        A registry name (see :func:`detector_class`).
    **params
        Constructor parameters of that detector (checked by name now, by value in ``fit``).

    Returns
    -------
    Detector
        The detector, unfitted.

    Raises
    ------
    ConfigError
        An unknown name, or a parameter the detector does not take (the message lists those
        it takes).

    Examples
    --------
    >>> get_detector("mahalanobis", support_fraction=0.8)
    RobustMahalanobis(support_fraction=0.8)
    >>> get_detector("pca", n_estimators=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: detector 'pca' has no parameter(s) n_estimators; it takes n_components, ...
    """
    cls = detector_class(name)
    accepted = cls.param_names()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"detector {name!r} has no parameter(s) {', '.join(unknown)}; "
                          f"it takes {', '.join(accepted)}")
    return cls(**params)
