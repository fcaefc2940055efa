"""Scoring throughput: `geogan score` vs Keras model.predict and the machine's matmul peak.

One survey is gridded at two cell sizes (4x the cells), an ALAD model with the paper's layer
sizes is trained briefly (scoring cost does not depend on training), and then:
- geogan: `score_grid` end to end (LocalCluster, one read-score-write task per tile, scores.zarr + COG);
- (a) Keras `model.predict` of the same score network on the same valid cells in one process
  (batch 4096), on a subset of cells;
- (b) the float32 matmul peak of this machine, measured in the same run with TensorFlow
  (square 2048 matmuls); geogan's achieved FLOP/s = cells/s x FLOPs per cell of E + G + 2 Dxx.
Peak RSS (this process + workers) of both scoring runs must not grow with the grid.
Then the same for the default model, a 5-member ALAD ensemble with the ``latent`` score
(``ensemble_*`` figures): geogan scores every member in one pass (``StackedScorer``); its
baseline is Keras ``predict`` of the five members' encoders as one model; its FLOPs per cell
are 5 encoders'.

    .venv/bin/python bench/score.py --quick     # demo survey at 200 m / 100 m (0.25 M / 1 M cells)
    .venv/bin/python bench/score.py             # national-preset survey (200 k samples) at 1550 m / 775 m (4 M / 16 M cells)

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, emit, load_average, machine, matmul_peak_gflops  # noqa: E402

from geogan.grid.stage import grid_survey  # noqa: E402
from geogan.scoring.stage import score_grid  # noqa: E402
from geogan.stores.store import open_grid  # noqa: E402
from geogan.synth import write_synthetic_survey  # noqa: E402
from geogan.training.model import load_model  # noqa: E402
from geogan.training.stage import train_model  # noqa: E402


def flops_per_cell(n: int, latent: int = 64) -> int:
    """E (n-256-128-latent) + G (latent-128-256-n) + Dxx features twice (2n-256-128), x2 for mul+add."""
    enc = n * 256 + 256 * 128 + 128 * latent
    gen = latent * 128 + 128 * 256 + 256 * n
    dxx = 2 * (2 * n * 256 + 256 * 128)
    return 2 * (enc + gen + dxx)


def encoder_flops_per_cell(n: int, latent: int = 64) -> int:
    """One encoder (n-256-128-latent), x2 for mul+add."""
    return 2 * (n * 256 + 256 * 128 + 128 * latent)


def predict_cells_per_s(net, model, cells: np.ndarray) -> float:
    """Cells/s of Keras ``net.predict`` (batch 4096) on ``model``'s transform of ``cells``,
    after one warm-up batch."""
    xt = model.transform.transform(cells).astype(np.float32)
    net.predict(xt[:4096], batch_size=4096, verbose=0)
    t = time.perf_counter()
    net.predict(xt, batch_size=4096, verbose=0)
    return len(xt) / (time.perf_counter() - t)


def keras_ensemble_cells_per_s(model_dir: Path, cells: np.ndarray) -> float:
    """Keras predict of every member's ‖E(x)‖ (one model, all members' encoders)."""
    import keras

    model = load_model(model_dir)
    x = keras.Input((cells.shape[1],))
    encoders = [keras.Model(m.ema_nets_["encoder"].inputs[0], m.ema_nets_["encoder"].outputs[0], name=f"encoder_{k}")
                for k, m in enumerate(model.detector.members_)]  # names must be unique in one model
    norms = [keras.ops.sqrt(keras.ops.sum(keras.ops.square(enc(x)), axis=1)) for enc in encoders]
    net = keras.Model(x, keras.ops.stack(norms, axis=0))
    return predict_cells_per_s(net, model, cells)


def keras_predict_cells_per_s(model_dir: Path, cells: np.ndarray) -> float:
    import keras

    model = load_model(model_dir)
    det = model.detector
    nets = det.ema_nets_
    x = keras.Input((cells.shape[1],))
    rx = nets["generator"](nets["encoder"](x))
    _, f_fake = nets["dis_xx"]([x, rx])
    _, f_real = nets["dis_xx"]([x, x])
    net = keras.Model(x, keras.ops.sum(keras.ops.abs(f_real - f_fake), axis=1))
    return predict_cells_per_s(net, model, cells)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="geogan-bench-score-"))
    if args.quick:
        preset, n_samples, cells_m = "demo", None, (200.0, 100.0)
    else:
        preset, n_samples, cells_m = "national", 200_000, (1550.0, 775.0)
    figures = {"machine": machine(), "load_average_start": load_average(), "preset": preset}
    try:
        synth = write_synthetic_survey(tmp / "survey", preset, n_samples=n_samples, seed=0)
        for label, cell in zip(("small", "large"), cells_m):
            store = tmp / f"{label}.zarr"
            res = grid_survey(synth.survey, store, crs=synth.crs, input_crs=synth.crs, cell_size_m=cell,
                              progress=False)
            if label == "small":
                # one model with the fm score: the network (E + G + 2 Dxx) that the Keras baseline and
                # flops_per_cell describe; and the default, a 5-member ensemble with the latent score
                train_model(store, tmp / "model", detector="alad", sample=20_000, epochs=1, seed=0, ensemble=1,
                            params={"score": "fm"}, progress=False)
                train_model(store, tmp / "ensemble", detector="alad", sample=20_000, epochs=1, seed=0, ensemble=5,
                            params={"score": "latent"}, progress=False)
            figures[f"{label}_cells"] = res.spec.n_cells
            for prefix, model_dir in (("", "model"), ("ensemble_", "ensemble")):
                with PeakRSS() as rss:
                    t = time.perf_counter()
                    out = score_grid(store, tmp / model_dir, tmp / f"{label}-{model_dir}-out", progress=False)
                    ts = time.perf_counter() - t
                figures[f"{prefix}{label}_valid_cells"] = out.n_cells_scored
                figures[f"{prefix}{label}_score_s"] = round(ts, 1)
                figures[f"{prefix}{label}_cells_per_s"] = round(out.n_cells_scored / ts)
                figures[f"{prefix}{label}_peak_rss_mb"] = rss.peak_mb
                print(f"{label} ({model_dir}): {res.spec.n_cells:,} cells ({out.n_cells_scored:,} valid) scored in "
                      f"{ts:.1f} s = {out.n_cells_scored / ts:,.0f} cells/s, peak RSS {rss.peak_mb} MB")
        ds = open_grid(tmp / "large.zarr")
        model = load_model(tmp / "model")
        x = ds["concentration"].sel(element=model.elements).values.reshape(len(model.elements), -1).T
        x = x[np.isfinite(x).all(axis=1)][:500_000]
        figures["keras_predict_cells_per_s"] = round(keras_predict_cells_per_s(tmp / "model", x))
        peak = matmul_peak_gflops((2048, 2048), (2048, 2048), seconds=5.0)
        fpc = flops_per_cell(len(model.elements))
        achieved = figures["large_cells_per_s"] * fpc / 1e9
        figures.update(flops_per_cell=fpc, matmul_peak_gflops=round(peak, 1), geogan_gflops=round(achieved, 1),
                       fraction_of_peak=round(achieved / peak, 3),
                       ratio_vs_keras_predict=round(figures["large_cells_per_s"] / figures["keras_predict_cells_per_s"], 2),
                       rss_ratio_large_small=round(figures["large_peak_rss_mb"] / figures["small_peak_rss_mb"], 2),
                       load_average_end=load_average())
        figures["ensemble_keras_predict_cells_per_s"] = round(keras_ensemble_cells_per_s(tmp / "ensemble", x))
        efpc = 5 * encoder_flops_per_cell(len(model.elements))
        e_achieved = figures["ensemble_large_cells_per_s"] * efpc / 1e9
        figures.update(ensemble_flops_per_cell=efpc, ensemble_gflops=round(e_achieved, 1),
                       ensemble_fraction_of_peak=round(e_achieved / peak, 3),
                       ensemble_ratio_vs_keras_predict=round(figures["ensemble_large_cells_per_s"]
                                                             / figures["ensemble_keras_predict_cells_per_s"], 2))
        print(f"5-member latent ensemble: Keras predict {figures['ensemble_keras_predict_cells_per_s']:,} cells/s; "
              f"geogan {e_achieved:.1f} GFLOP/s end to end = {e_achieved / peak:.0%} of peak (target >= 50%); "
              f"ratio vs predict {figures['ensemble_ratio_vs_keras_predict']}x")
        # what the large-grid rate means for the national grid (38.44 M cells)
        figures["projected_national_score_min"] = round(38_440_000 / figures["large_cells_per_s"] / 60, 1)
        print(f"Keras predict {figures['keras_predict_cells_per_s']:,} cells/s; matmul peak {peak:.1f} GFLOP/s; "
              f"geogan {achieved:.1f} GFLOP/s end to end = {achieved / peak:.0%} of peak; "
              f"ratio vs predict {figures['ratio_vs_keras_predict']}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit(figures)


if __name__ == "__main__":
    main()
