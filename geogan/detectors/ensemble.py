"""Seed ensembles: N copies of one detector trained with different seeds, scores averaged as
calibrated percentiles, with the members' disagreement as a second map.

A GAN's map depends on its seed (initial weights, noise, batch order); a user cannot know
which of two seeds' maps to believe. :class:`Ensemble` trains ``n_members`` copies of a
detector on the same cells with seeds ``random_state + 1000 k``, and scores a cell by the mean
over members of its **percentile** among that member's training-cell scores (each member's
raw scores live on their own scale, so they are made comparable first: a rank average that
needs no global sort, because every member carries its own reference quantiles). Beyond
the training range the percentile is extended linearly with the slope of the top 1 %, so
the strongest anomalies keep their order instead of all tying at 100.
:meth:`Ensemble.score_spread` is the standard deviation of the members' percentiles: where
it is high, the map rests on one seed's opinion.

Must not hold: member detectors' code, or model-file checks beyond reading the members'
sections (:mod:`geogan.detectors.modelfile` does those).

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
>>> ens = Ensemble(detector="pca", n_members=3, params={"n_components": 2}).fit(X)
>>> s = ens.decision_function(X[:5])
>>> s.shape, bool(np.all(ens.score_spread(X[:5]) >= 0))
((5,), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from geogan.detectors.base import DEFAULT_CONTAMINATION, Detector
from geogan.detectors.modelfile import detector_from_config
from geogan.detectors.neural import NeuralDetector
from geogan.detectors.registry import detector_class
from geogan.detectors.stacked import StackedALAD, stack_reason, stacked_scorer
from geogan.errors import ConfigError, ModelError

_LEVELS = np.linspace(0.0, 1.0, 1025)
_TAIL = 11  # quantiles spanning the top ~1 %: the slope used beyond the training range


def member_dir(k: int) -> str:
    """Where member ``k`` lives inside an ensemble's model directory."""
    return f"members/{k:02d}"


def calibrate(scores: np.ndarray) -> np.ndarray:
    """Reference quantiles (1025 levels) of a member's training-cell scores."""
    return np.quantile(np.asarray(scores, dtype=np.float64), _LEVELS)


def to_percentile(scores: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Percentile (0–1) of ``scores`` among the reference, extended linearly past both ends.

    Monotone in the score, so each member's ranking of cells is kept exactly.
    """
    s = np.asarray(scores, dtype=np.float64)
    q = np.asarray(quantiles, dtype=np.float64)
    # strictly increasing reference so that interp is well defined on flat stretches
    q = q + np.arange(q.size) * (np.finfo(np.float64).eps * max(1.0, float(np.abs(q).max())))
    u = np.interp(s, q, _LEVELS)
    hi_span = max(q[-1] - q[-_TAIL], 1e-12)
    lo_span = max(q[_TAIL - 1] - q[0], 1e-12)
    step = _LEVELS[_TAIL - 1]
    u = np.where(s > q[-1], 1.0 + (s - q[-1]) / hi_span * step, u)
    u = np.where(s < q[0], (s - q[0]) / lo_span * step, u)
    return u


class Ensemble(Detector):
    """``n_members`` copies of one detector with seeds ``random_state + 1000 k``; mean percentile.

    Parameters
    ----------
    detector
        Registry name of the members (``"alad"``).
    n_members
        Number of members (5).
    params
        The members' parameters (their ``random_state`` is set per member).
    contamination
        Share of outliers in the training data, for the ensemble's ``threshold_`` (on its
        mean-percentile score) and ``predict`` (0.1). The members keep their own (from
        ``params``).
    random_state
        Seed of member 0; member k gets ``random_state + 1000 k``.

    Attributes
    ----------
    members_ : list of Detector
    quantiles_ : ndarray (n_members, 1025)
        Each member's reference quantiles of its training-cell scores.
    threshold_, decision_scores_, labels_
        As every detector (see :class:`~geogan.detectors.Detector`), for the mean percentile.

    Raises
    ------
    ConfigError
        In ``fit``: ``n_members`` not an integer from 1 to 100, an unknown ``detector`` or one
        that is itself an ensemble, ``params`` the members do not take, a ``random_state``
        that is not an integer or None, ``contamination`` outside (0, 0.5]; a member's own
        parameter out of range.
    DataError
        ``X`` unusable (see :class:`~geogan.detectors.base.Detector`).
    NotFittedError
        Scoring before ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from geogan.detectors import Ensemble
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> ens = Ensemble(detector="pca", n_members=3, params={"n_components": 2}).fit(X)
    >>> ens.score_name, [m.random_state for m in ens.members_], ens.quantiles_.shape
    ('ensemble_percentile(reconstruction_error)', [0, 1000, 2000], (3, 1025))
    >>> bool(ens.decision_function([[3.0, 3.0, 3.0]])[0] > 100)  # beyond every training cell's percentile
    True
    >>> alad_seeds = Ensemble(detector="alad", n_members=5, params={"steps": 2000})
    >>> alad_seeds.fit(X)  # doctest: +SKIP
    >>> Ensemble(detector="ensemble").fit(X)
    Traceback (most recent call last):
    geogan.errors.ConfigError: an ensemble's members cannot be ensembles
    """

    name = "ensemble"

    def __init__(self, *, detector: str = "alad", n_members: int = 5, params: dict | None = None,
                 contamination: float = DEFAULT_CONTAMINATION, random_state: int | None = 0):
        self.detector = detector
        self.n_members = n_members
        self.params = params
        self.contamination = contamination
        self.random_state = random_state

    @property
    def score_name(self) -> str:
        inner = self.members_[0].score_name if getattr(self, "members_", None) else "score"
        return f"ensemble_percentile({inner})"

    def check_params(self) -> None:
        super().check_params()
        if not isinstance(self.n_members, (int, np.integer)) or isinstance(self.n_members, bool) or \
                not 1 <= self.n_members <= 100:
            raise ConfigError(f"n_members must be an integer between 1 and 100, got {self.n_members!r}")
        cls = detector_class(self.detector)
        if cls is Ensemble:
            raise ConfigError("an ensemble's members cannot be ensembles")
        unknown = set(self.params or {}) - set(cls.param_names())
        if unknown:
            raise ConfigError(f"detector {self.detector!r} has no parameter(s) {', '.join(sorted(unknown))}")
        if self.random_state is not None and not isinstance(self.random_state, (int, np.integer)):
            raise ConfigError(f"random_state must be an integer or None, got {self.random_state!r}")

    def member_seed(self, k: int) -> int:
        """``random_state + 1000 k``: member 0 is seeded as the single model of ``random_state``
        (trained side by side, it differs from it only by its dropout masks), and the
        ensembles of seeds 0–999 share no member."""
        return (0 if self.random_state is None else int(self.random_state)) + 1000 * int(k)

    def make_member(self, k: int) -> Detector:
        """Member ``k``, unfitted."""
        params = dict(self.params or {})
        params["random_state"] = self.member_seed(k)
        return detector_class(self.detector)(**params)

    @property
    def neural(self) -> bool:
        return issubclass(detector_class(self.detector), NeuralDetector)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None, *, callback: Callable | None = None) -> Ensemble:
        """Fit every member on ``X`` (``callback(member_index, member)`` for each once the
        members are fitted; ``y`` ignored), calibrate them and set ``threshold_``.

        ALAD members are trained side by side as one network
        (:class:`~geogan.detectors.stacked.StackedALAD`); others one after another."""
        self.check_params()
        X_checked = self.check_X(X, fitting=True)  # the members see an array: no column names
        members = [self.make_member(k) for k in range(int(self.n_members))]
        if stack_reason(members) is None:
            StackedALAD.fresh(members, X_checked).fit(X_checked)
        else:
            members = [m.fit(X_checked) for m in members]
        if callback is not None:
            for k, m in enumerate(members):
                callback(k, m)
        return self.set_members(members, X)

    def set_members(self, members: Sequence[Detector], X) -> Ensemble:
        """Adopt fitted ``members``, calibrate each on the training rows ``X`` and set the
        ensemble's ``threshold_`` from its scores of ``X``."""
        self.check_params()
        if len(members) != int(self.n_members):
            raise ConfigError(f"expected {self.n_members} members, got {len(members)}")
        X = self.check_X(X, fitting=True)
        self.members_ = list(members)
        self._scorer = None
        self.n_features_ = int(X.shape[1])
        scores = self.member_scores(X)
        self.quantiles_ = np.stack([calibrate(s) for s in scores])
        percentiles = np.stack([to_percentile(s, q) for s, q in zip(scores, self.quantiles_)])
        return self._set_threshold((100.0 * percentiles.mean(axis=0)).astype(np.float32))

    # -- scoring ---------------------------------------------------------------------------
    def member_scores(self, X) -> np.ndarray:
        """``(n_members, n)`` raw scores of each row under each member: ALAD members in one
        pass (:class:`~geogan.detectors.stacked.StackedScorer`), others one by one."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if getattr(self, "_scorer", None) is None:
            self._scorer = stacked_scorer(self.members_) or False
        if self._scorer:
            return self._scorer(X)
        return np.stack([m.decision_function(X) for m in self.members_])

    def member_percentiles(self, X) -> np.ndarray:
        """``(n_members, n)`` percentiles of each row under each member."""
        X = self.check_X(X)
        return np.stack([to_percentile(s, q) for s, q in zip(self.member_scores(X), self.quantiles_)])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_scorer", None)  # a compiled TensorFlow function: rebuilt when next used
        return state

    def decision_function(self, X) -> np.ndarray:
        """Mean percentile over the members ×100 (higher = more anomalous), float32."""
        return (100.0 * self.member_percentiles(X).mean(axis=0)).astype(np.float32)

    def score_spread(self, X) -> np.ndarray:
        """Standard deviation of the members' percentiles ×100 (percentage points), float32."""
        return (100.0 * self.member_percentiles(X).std(axis=0)).astype(np.float32)

    def score_with_spread(self, X) -> tuple[np.ndarray, np.ndarray]:
        p = self.member_percentiles(X)
        return (100.0 * p.mean(axis=0)).astype(np.float32), (100.0 * p.std(axis=0)).astype(np.float32)

    # -- persistence -------------------------------------------------------------------------
    def _state_to_disk(self, path: Path) -> dict:
        members = []
        for k, m in enumerate(self.members_):
            sub = path / member_dir(k)
            sub.mkdir(parents=True, exist_ok=True)
            members.append({"dir": member_dir(k), "detector": m.to_config(sub)})
        return {"members": members, "quantiles": [[float(v) for v in q] for q in self.quantiles_]}

    def restore_state(self, path: Path, state: dict, section: dict) -> None:
        where = path / "config.json"
        members, quantiles = state.get("members"), state.get("quantiles")
        if not isinstance(members, list) or len(members) != int(self.n_members) or not isinstance(quantiles, list) \
                or len(quantiles) != len(members):
            raise ModelError(f"the ensemble state must list {self.n_members} members and their quantiles", path=where)
        self.members_ = []
        self._scorer = None
        for k, entry in enumerate(members):
            if not isinstance(entry, dict) or entry.get("dir") != member_dir(k) or \
                    not isinstance(entry.get("detector"), dict):
                raise ModelError(f"ensemble member {k} entry is invalid", path=where)
            sub = entry["detector"]
            if sub.get("name") != self.detector:
                raise ModelError(f"ensemble member {k} is a {sub.get('name')!r}, not a {self.detector!r}", path=where)
            det = detector_from_config(path / entry["dir"], sub, where=where)
            if det.n_features_ != self.n_features_:
                raise ModelError(f"ensemble member {k} takes {det.n_features_} features, not {self.n_features_}",
                                 path=where)
            self.members_.append(det)
        q = np.asarray(quantiles, dtype=np.float64)
        if q.shape != (len(members), _LEVELS.size) or not np.all(np.isfinite(q)) or np.any(np.diff(q, axis=1) < 0):
            raise ModelError("ensemble quantiles must be finite and non-decreasing, 1025 per member", path=where)
        self.quantiles_ = q


__all__ = ["Ensemble", "calibrate", "member_dir", "to_percentile"]
