"""The ALAD paper's tabular benchmarks, as its code sets them up: arrhythmia and KDD Cup 99 (10 %).

- **arrhythmia** (ODDS, 452 × 274, 66 anomalies; ``../shared/data/arrhythmia``): a random
  50/50 split per seed with the anomalies kept in training, features standardised on the
  training half, threshold at the 85th percentile of the test scores.
- **kddcup** (KDD Cup 99, 10 % file, 494,021 connections): the categorical columns one-hot
  encoded (121 features), ``normal.`` connections are the anomalies (≈ 20 %), a 50/50 split
  per seed, training on the training half's non-anomalous rows only (subsampled to
  ``KDD_TRAIN_ROWS`` to keep a run to minutes on 2 cores, as ``../shared/ALAD-NOTES.md``
  measured), min-max scaled on them, the test half with its anomalies at 20 %, threshold at
  the 80th percentile of the test scores (Zenati et al. 2018 and their ``data/kdd.py``).

KDD Cup 99 is public (the UCI KDD archive's ``kddcup.data_10_percent.gz``, 2.1 MB) but not in
``../shared/data``: :func:`kdd_path` looks for that file (or the uncompressed
``kddcup.data_10_percent_corrected``) at ``$GEOGAN_KDDCUP`` (a file or a folder), in the cache
folder given, or in scikit-learn's data home; callers skip the dataset with a clear line
when it is not found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ARRHYTHMIA = HERE.parent.parent / "shared" / "data" / "arrhythmia" / "arrhythmia.mat"
KDD_FILES = ("kddcup.data_10_percent.gz", "kddcup.data_10_percent_corrected", "kddcup.data_10_percent")
KDD_TRAIN_ROWS = 30_000
_KDD_TEXT = ("protocol_type", "service", "flag", "land", "logged_in", "is_host_login", "is_guest_login")
_KDD_COLUMNS = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land", "wrong_fragment", "urgent",
    "hot", "num_failed_logins", "logged_in", "num_compromised", "root_shell", "su_attempted", "num_root",
    "num_file_creations", "num_shells", "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login",
    "count", "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate", "same_srv_rate",
    "diff_srv_rate", "srv_diff_host_rate", "dst_host_count", "dst_host_srv_count", "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate", "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate", "label")


@dataclass
class Split:
    """One seed's split: training rows (scaled), test rows (scaled) and test labels (1 = anomaly)."""

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    percentile: float   # the protocol's threshold: scores ≥ this percentile are called anomalous


def arrhythmia(seed: int) -> Split | None:
    """The arrhythmia protocol's split for ``seed`` (None when the data is absent)."""
    import scipy.io
    from sklearn.model_selection import train_test_split

    if not ARRHYTHMIA.exists():
        return None
    mat = scipy.io.loadmat(ARRHYTHMIA)
    X, y = np.asarray(mat["X"], float), np.asarray(mat["y"]).ravel().astype(int)
    X_tr, X_te, _, y_te = train_test_split(X, y, test_size=0.5, random_state=seed)
    mean, std = X_tr.mean(0), X_tr.std(0)
    std = np.where(std > 0, std, 1.0)
    return Split("arrhythmia", ((X_tr - mean) / std).astype(np.float32), ((X_te - mean) / std).astype(np.float32),
                 y_te, 85.0)


def kdd_path(cache: Path | None = None) -> Path | None:
    """Where the KDD Cup 99 10 % file is (see the module docstring), or None."""
    folders = [Path(p) for p in (os.environ.get("GEOGAN_KDDCUP"),) if p]
    if cache is not None:
        folders.append(Path(cache))
    try:
        from sklearn.datasets import get_data_home

        folders.append(Path(get_data_home()))
    except Exception:
        pass
    for folder in folders:
        if folder.is_file():
            return folder
        for name in KDD_FILES:
            if (folder / name).exists():
                return folder / name
    return None


def _kdd_frame(path: Path):
    import pandas as pd

    df = pd.read_csv(path, header=None, names=list(_KDD_COLUMNS))
    for name in _KDD_TEXT:
        dummies = pd.get_dummies(df[name], prefix=name, prefix_sep="-").astype(np.float32)
        df = pd.concat([df.drop(columns=name), dummies], axis=1)
    y = (df.pop("label") == "normal.").to_numpy().astype(int)
    return df.to_numpy(dtype=np.float64), y


_KDD_CACHE: dict = {}


def kddcup(seed: int, cache: Path | None = None) -> Split | None:
    """The KDD Cup 99 protocol's split for ``seed`` (None when the file cannot be found)."""
    path = kdd_path(cache)
    if path is None:
        return None
    if path not in _KDD_CACHE:
        _KDD_CACHE[path] = _kdd_frame(path)
    X, y = _KDD_CACHE[path]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    train, test = order[: len(X) // 2], order[len(X) // 2:]
    train = train[y[train] == 0]
    train = train[rng.permutation(train.size)[:KDD_TRAIN_ROWS]]
    inliers, outliers = test[y[test] == 0], test[y[test] == 1]
    n_out = min(outliers.size, int(inliers.size * 0.2 / 0.8))
    test = np.concatenate([inliers, rng.permutation(outliers)[:n_out]])
    lo = X[train].min(axis=0)
    span = X[train].max(axis=0) - lo
    span = np.where(span > 0, span, 1.0)
    return Split("kddcup", ((X[train] - lo) / span).astype(np.float32), ((X[test] - lo) / span).astype(np.float32),
                 y[test], 80.0)


def f1_at_threshold(scores: np.ndarray, split: Split) -> dict:
    """The protocol's figures: precision, recall, F1 at its percentile threshold; ROC AUC."""
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    pred = scores >= np.percentile(scores, split.percentile)
    p, r, f, _ = precision_recall_fscore_support(split.y_test, pred.astype(int), average="binary", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "auc": float(roc_auc_score(split.y_test, scores))}
