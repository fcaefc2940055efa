"""ALAD on arrhythmia, the ALAD paper's tabular benchmark, against IsolationForest on the same splits.

Protocol (Zenati et al. 2018, and their code): ODDS arrhythmia (452 × 274, 66 anomalies),
a random 50/50 train/test split per seed with the anomalies kept in training, threshold at
the 85th percentile of the test scores, precision/recall/F1 of the "anomalous" class.
Features are standardised with the training half's mean and standard deviation. Reported:
mean ± std over seeds (each seed = its own split and model seed). The paper reports
F1 ≈ 0.52 (P 0.50, R 0.53).

Settings (defaults): geogan's ALAD defaults, i.e. the seed paper's (batch 128, learning rate
1e-4, latent 64, spectral normalisation, D_zz, EMA 0.999), for 1000 epochs (with 226
training rows and batch 128 that is 1000 steps), and the ``l1`` score. Every trained model
is scored with all four ALAD scores and all are reported; on this data ``l1``
(reconstruction) beat ``fm`` (feature matching) in every configuration tried, including the
original code's (batch 32, learning rate 1e-5), so ``l1`` is the headline.

    python bench/alad_arrhythmia.py            # 5 seeds (~4 min on 2 cores)
    python bench/alad_arrhythmia.py --quick    # 2 seeds, 300 epochs (≤ 60 s; not the figure)

The last stdout line is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit, load_average, machine, tf_cpu_threads  # noqa: E402

tf_cpu_threads()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data" / "arrhythmia" / "arrhythmia.mat"


def scale(train: np.ndarray, test: np.ndarray, how: str = "standard") -> tuple[np.ndarray, np.ndarray]:
    """Fit on the training half: ``standard`` (mean/std), ``minmax`` or ``none``."""
    if how == "none":
        return train.astype(np.float32), test.astype(np.float32)
    if how == "minmax":
        lo, span = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
        span = np.where(span > 0, span, 1.0)
        return ((train - lo) / span).astype(np.float32), ((test - lo) / span).astype(np.float32)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def prf(scores: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    from sklearn.metrics import precision_recall_fscore_support

    pred = scores >= np.percentile(scores, 85)
    p, r, f, _ = precision_recall_fscore_support(y.astype(int), pred.astype(int), average="binary", zero_division=0)
    return float(p), float(r), float(f)


def summary(rows: list[tuple[float, float, float]]) -> dict:
    a = np.asarray(rows)
    return {"precision": round(float(a[:, 0].mean()), 3), "recall": round(float(a[:, 1].mean()), 3),
            "f1": round(float(a[:, 2].mean()), 3), "f1_std": round(float(a[:, 2].std()), 3),
            "f1_min": round(float(a[:, 2].min()), 3)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds and 300 epochs (≤ 60 s)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--latent-dim", type=int, default=64)
    ap.add_argument("--score", default="l1", choices=["latent", "fm", "l1", "logit", "l1_high"], help="headline score")
    ap.add_argument("--no-sn", action="store_true", help="no spectral normalisation")
    ap.add_argument("--ema-decay", type=float, default=0.999)
    ap.add_argument("--scaling", choices=["standard", "minmax", "none"], default="standard")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"arrhythmia data not found at {DATA}; nothing to do")
        emit({"skipped": f"{DATA} absent"})
        return {}

    import scipy.io
    from sklearn.ensemble import IsolationForest as SkIsolationForest
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from geogan.detectors import ALAD

    mat = scipy.io.loadmat(DATA)
    X = np.asarray(mat["X"], dtype=np.float64)
    y = np.asarray(mat["y"]).ravel().astype(int)
    seeds = list(range(2 if args.quick else args.seeds))
    epochs = args.epochs or (300 if args.quick else 1000)
    params = dict(latent_dim=args.latent_dim, epochs=epochs, batch_size=args.batch_size, learning_rate=args.lr,
                  spectral_norm=not args.no_sn, ema_decay=args.ema_decay, score=args.score)
    scores = ("latent", "fm", "l1", "logit", "l1_high")
    rows = {k: [] for k in scores}
    aucs = {k: [] for k in scores}
    if_rows, if_auc = [], []
    t0 = time.perf_counter()
    t_alad = 0.0
    for seed in seeds:
        X_tr, X_te, _, y_te = train_test_split(X, y, test_size=0.5, random_state=seed)
        A_tr, A_te = scale(X_tr, X_te, args.scaling)
        t = time.perf_counter()
        det = ALAD(random_state=seed, **params).fit(A_tr)
        for k in scores:
            det.score = k
            s = det.decision_function(A_te)
            rows[k].append(prf(s, y_te))
            aucs[k].append(roc_auc_score(y_te, s))
        t_alad += time.perf_counter() - t
        forest = SkIsolationForest(random_state=seed).fit(X_tr)
        s_if = -forest.score_samples(X_te)
        if_rows.append(prf(s_if, y_te))
        if_auc.append(roc_auc_score(y_te, s_if))
        head = rows[args.score][-1]
        print(f"seed {seed}: ALAD ({args.score}) P/R/F1 {head[0]:.3f}/{head[1]:.3f}/{head[2]:.3f} "
              f"AUC {aucs[args.score][-1]:.3f} | other scores F1 "
              + ", ".join(f"{k} {rows[k][-1][2]:.3f}" for k in scores if k != args.score)
              + f" | IsolationForest F1 {if_rows[-1][2]:.3f} AUC {if_auc[-1]:.3f}", flush=True)
    alad, forest = summary(rows[args.score]), summary(if_rows)
    print(f"ALAD ({args.score:7s}) F1 {alad['f1']:.3f} ± {alad['f1_std']:.3f} "
          f"(P {alad['precision']:.3f}, R {alad['recall']:.3f})")
    for k in scores:
        if k != args.score:
            other = summary(rows[k])
            print(f"ALAD ({k:7s}) F1 {other['f1']:.3f} ± {other['f1_std']:.3f}")
    print(f"IsolationForest F1 {forest['f1']:.3f} ± {forest['f1_std']:.3f} (P {forest['precision']:.3f}, "
          f"R {forest['recall']:.3f})")
    figures = {
        "bench": "alad_arrhythmia", "quick": args.quick, "seeds": len(seeds), "machine": machine(),
        "load_avg_1min": load_average(), "alad_settings": params, "scaling": args.scaling,
        "headline_score": args.score,
        **{f"alad_{k}": v for k, v in alad.items()}, "alad_auc": round(float(np.mean(aucs[args.score])), 3),
        "alad_f1_by_score": {k: [summary(rows[k])["f1"], summary(rows[k])["f1_std"]] for k in scores},
        **{f"iforest_{k}": v for k, v in forest.items()}, "iforest_auc": round(float(np.mean(if_auc)), 3),
        "alad_fit_score_s_per_seed": round(t_alad / len(seeds), 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    emit(figures)
    return figures


if __name__ == "__main__":
    main()
