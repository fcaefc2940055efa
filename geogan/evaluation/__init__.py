"""Evaluation: score grids against known deposits, and what a geochemist reads from them.

:func:`evaluate` and :func:`evaluate_many` are the stage (``geogan evaluate``; the score
stage calls them too), :func:`evaluate_scores` evaluates one grid in memory
(:mod:`~geogan.evaluation.single`) and :func:`open_scores` opens one
(:mod:`~geogan.evaluation.scorefiles`). Deposits are read by :mod:`~geogan.evaluation.deposits`
and placed on the grid by :mod:`~geogan.evaluation.locate`; the numbers come from
:mod:`~geogan.evaluation.metrics` and :mod:`~geogan.evaluation.area` into an
:class:`EvaluationResult` (:mod:`~geogan.evaluation.result`), the page from
:mod:`~geogan.evaluation.report`, :mod:`~geogan.evaluation.page` and
:mod:`~geogan.evaluation.figures`; :mod:`~geogan.evaluation.gis` hands the map's percentile
classes to GIS software; :mod:`~geogan.evaluation.drivers` names the elements driving the
strongest anomalies.
"""

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "Deposits": "geogan.evaluation.deposits",
    "read_deposits": "geogan.evaluation.deposits",
    "EvaluationResult": "geogan.evaluation.result",
    "open_scores": "geogan.evaluation.scorefiles",
    "evaluate_scores": "geogan.evaluation.single",
    "evaluate": "geogan.evaluation.stage",
    "evaluate_many": "geogan.evaluation.stage",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Deposits", "EvaluationResult", "evaluate", "evaluate_many", "evaluate_scores", "open_scores",
           "read_deposits"]
