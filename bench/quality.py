"""Detection quality: every detector configuration × seeds on every survey we have, one table.

Surveys (columns): the real ones in ``../shared/data`` (GSWA soil1 and rock2 against MINEDEX
Au mines, GTK Lapland till against IOCG sites), the synthetic ``demo`` preset (the paper's
five pathfinders; ``demo15``: all 15 elements, with the preset's traps: mafic Ni-Co-Cr, black
shale Mo-Ag, a laboratory's biased sheets, single-sample spikes), a 300 × 300 km window of
the synthetic ``national`` preset (39 elements, 7 deposit types, judged against its W
deposits), and the ALAD paper's tabular benchmarks (``arrhythmia``, ``kddcup``: F1 at the
protocol's percentile; see ``bench/_tabular.py``). Each survey is gridded once (cached) with
``geogan.grid.stage.grid_survey``; each configuration then goes through the public API a user gets:
``geogan.training.stage.train_model`` (its defaults unless the configuration says otherwise) →
``load_model(...).score`` on every cell with data (missing elements imputed, as ``geogan score
--min-elements 1``, so every map covers the same cells) → the metrics.

Each survey names what is looked for: its deposits' commodity (``target``) and deposit type of
the pathfinder catalogue (``geogan.survey.pathfinders``). Detectors (rows):
- baselines: the **target element alone** (its grid), the additive enrichment index of every
  element and of the deposit type's pathfinders (``enrichment_suite``: sum of robust z-scores
  of the log concentrations, a geochemist's own target-aware map), PCA, robust Mahalanobis,
  IsolationForest, the VAE, ALAD with its defaults (``alad``: a 5-seed ensemble;
  ``alad_single``: one model);
- target-aware (``geogan train --target``): ``alad_target`` (defaults), ``alad_target_single``,
  and the same with the other detectors (``*_target``);
- ablations, each one way of using the target, measured to decide the defaults:
  ``alad_suite_single`` (element selection only), ``alad_target_nomatrix_single`` (no matrix
  correction), ``alad_target_matrix_single`` (matrix correction forced on), ``alad_target_ctx`` and ``element_ctx`` (spatial context: each cell's score
  replaced by the mean over its 3 × 3 neighbourhood), ``alad_share`` (the plain ALAD map
  weighted by the suite's share of its per-element contributions);
- the published figures of the benchmark (soil1, rock2), as rows.
No configuration sees a deposit label; labels only compute the figures.

Figures per (detector, survey), mean ± std over seeds:
- ``bp``: the **benchmark protocol** (GeoChemAD / OpenGADBench, ``geogan.evaluation.metrics.sample_benchmark_auc``):
  the map read at every sample (not merged), each deposit scored by its nearest sample,
  negatives drawn with replacement from samples ≥ 5 km from every deposit (all samples where
  none is that far: soil1, rock2), 20 draws from seed 42; ``[±d]`` is the mean std over draws;
- ``auc``: all-cells ROC AUC (cells holding a deposit vs every other cell with a score);
- ``nd``: P-A normalised density at the intersection; ``top5``: % of deposits in the
  highest-scoring 5 % of the area; tabular sets: ``f1`` and ``auc`` (ROC).

    python bench/quality.py                      # every survey × configuration, 3 seeds
    python bench/quality.py --quick              # demo only, 2 seeds, 300-step training, a few rows (~2 min)
    python bench/quality.py --surveys soil1,rock2 --configs element,alad_target --seeds 3
    python bench/quality.py --table              # print the tables from the cached results

Results are cached per (survey, configuration, seed) in ``--cache`` (JSON; the key includes a
hash of the survey's and the configuration's definition, so a changed definition recomputes),
so an interrupted run continues; ``--fresh`` recomputes. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit, load_average, machine, tf_cpu_threads  # noqa: E402

tf_cpu_threads()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import _tabular  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "geogan-quality"
BENCHMARK_MIN_DIST_KM = 5.0  # the benchmark's README; soil1 and rock2 are smaller, so all samples are negatives
TABULAR = ("arrhythmia", "kddcup")

#: The benchmark's published per-area ROC AUCs (its table; ``../shared/BENCHMARK-NOTES.md``).
PUBLISHED = {
    "published ICDM recon": {"soil1": (0.561, 0.050), "rock2": (0.459, 0.083)},
    "published ICDM attention": {"soil1": (0.540, 0.062), "rock2": (0.559, 0.099)},
    "published GeoChemFormer": {"soil1": (0.552, 0.085), "rock2": (0.508, 0.068)},
}


# -- surveys ------------------------------------------------------------------------------------
@dataclass
class Survey:
    """How to grid one survey, what is looked for in it, and its deposits."""

    name: str
    target: str                       # the deposits' commodity element (the element-alone baseline)
    deposit_type: str                 # its type in the pathfinder catalogue (target-aware rows)
    grid: dict                        # grid_survey keyword arguments (survey path filled in)
    deposits: dict                    # read_deposits keyword arguments
    elements: list[str] | None = None  # elements the plain detectors use (None: all in the grid)
    note: str = ""
    plain_only: bool = False          # its target-aware rows would repeat another survey's (same grid)


def _surveys() -> dict[str, Survey]:
    soil1, rock2, gtk = DATA / "gswa-soil1", DATA / "gswa-rock2", DATA / "gtk-lapland-till"
    gswa = dict(input_crs="EPSG:4283", crs="EPSG:28350", negative_is_bdl=True, missing=(-9999,))
    demo_grid = dict(path="synth:demo", crs="EPSG:32650", input_crs="EPSG:32650", cell_size_m=500)
    return {
        "demo": Survey("demo", "W", "w-sn-granite", demo_grid, {}, elements=["Ag", "Bi", "Mo", "Sn", "W"],
                       note="synthetic with traps, the paper's 5 pathfinders (Ag Bi Mo Sn W), 20 W deposits"),
        # plain rows only: its target-aware rows would be demo's (same grid, the suite comes from the catalogue)
        "demo15": Survey("demo15", "W", "w-sn-granite", demo_grid, {}, elements=None, plain_only=True,
                         note="synthetic with traps, all 15 elements incl. Ni, Co, Cr, Fe2O3, K2O"),
        "national": Survey("national", "W", "w-sn-granite",
                           dict(path="synth:national", crs="ESRI:102025", input_crs="ESRI:102025", cell_size_m=500,
                                bounds=(1_200_000.0, 1_200_000.0, 1_500_000.0, 1_500_000.0)),
                           {"deposit_type": "W-polymetallic"}, elements=None,
                           note="synthetic national preset, 300 × 300 km window, 39 elements, its W deposits"),
        "soil1": Survey("soil1", "Au", "orogenic-au",
                        dict(path=soil1 / "area6_soil_au.csv", cell_size_m=100, level_by="WAMEX_A_NO",
                             elements=["Au", "Ag", "Cu", "Pb", "Zn", "Ni", "Co"], **gswa),
                        dict(path=soil1 / "area6_soil_au_site.csv", input_crs="EPSG:4283"),
                        note="GSWA soil, 7 elements with values, 100 m, 14 Au mines"),
        "rock2": Survey("rock2", "Au", "orogenic-au",
                        dict(path=rock2 / "area4_rockchip_au.csv", cell_size_m=50,
                             elements=["Au", "As", "Ag", "Cu", "Pb", "Zn", "Mo", "Sb", "Bi", "W"], **gswa),
                        dict(path=rock2 / "area4_rockchip_au_site.csv", input_crs="EPSG:4283"),
                        note="GSWA rock chips, 10 orogenic-Au pathfinders, 50 m, 12 Au mines"),
        "gtk": Survey("gtk", "Cu", "iocg",
                      dict(path=gtk / "till_samples.csv", x="x_etrstm35fin", y="y_etrstm35fin",
                           input_crs="EPSG:3067", crs="EPSG:3067", cell_size_m=500),
                      dict(path=gtk / "iocg_deposits_prospects_occurrences_26.csv", x="x_etrstm35fin",
                           y="y_etrstm35fin", input_crs="EPSG:3067"),
                      note="GTK till, 22 elements (no Au/As), 500 m, 26 IOCG sites"),
    }


@dataclass
class Case:
    """A gridded survey in memory: every element's grid, the cells with data, the samples."""

    survey: Survey
    grid_path: Path
    all_elements: list[str]
    conc: np.ndarray          # (element, y, x) raw concentrations, every grid element
    template: object          # xarray DataArray (y, x) with CRS, all NaN
    deposits: object          # geogan.evaluation.deposits.Deposits in the grid CRS
    sample_xy: np.ndarray     # (n, 2) every sample (not merged) inside the grid
    sample_rc: np.ndarray     # (n, 2) their cells
    extras: dict = field(default_factory=dict)

    @property
    def elements(self) -> list[str]:
        """The plain detectors' elements."""
        return self.survey.elements or self.all_elements

    def columns(self, names) -> np.ndarray:
        """(n_cells, len(names)) raw values of every cell, row-major."""
        idx = [self.all_elements.index(n) for n in names]
        return self.conc[idx].reshape(len(idx), -1).T

    # the cells holding every one of :attr:`elements` (what bench/gaps.py and
    # bench/alad_diagnostics.py score), as flat indices, raw values and (row, col)
    @functools.cached_property
    def valid(self) -> np.ndarray:
        return np.flatnonzero(np.isfinite(self.columns(self.elements)).all(axis=1))

    @property
    def values(self) -> np.ndarray:
        return self.columns(self.elements)[self.valid]

    @property
    def rows(self) -> np.ndarray:
        return self.valid // self.template.shape[1]

    @property
    def cols(self) -> np.ndarray:
        return self.valid % self.template.shape[1]

    def flat(self, valid_scores: np.ndarray) -> np.ndarray:
        """Scores of the :attr:`valid` cells spread onto every cell (NaN elsewhere), for :func:`figures`."""
        out = np.full(int(np.prod(self.template.shape)), np.nan, dtype=np.float32)
        out[self.valid] = valid_scores
        return out


def _synth_dir(cache: Path, preset: str) -> Path:
    """A synthetic survey's folder, keyed by the preset's definition (a changed preset regenerates)."""
    from geogan.synth.presets import PRESETS

    key = hashlib.sha256(repr(PRESETS[preset]).encode()).hexdigest()[:10]
    return cache / "synth" / f"{preset}-{key}"


def _grid_path(cache: Path, s: Survey, source: Path) -> Path:
    key = hashlib.sha256(json.dumps([s.grid, str(source)], sort_keys=True, default=str).encode()).hexdigest()[:10]
    return cache / "grids" / f"{s.name}-{key}.zarr"


def prepare(s: Survey, cache: Path) -> Case:
    """Grid the survey once (cached), load every element's grid, place the samples."""
    from geogan.evaluation.deposits import read_deposits
    from geogan.grid.stage import grid_survey
    from geogan.stores.geometry import grid_spec
    from geogan.stores.store import open_grid
    from geogan.survey.read import read_survey
    from geogan.synth import write_synthetic_survey

    kw = dict(s.grid)
    path = kw.pop("path")
    dep_kw = dict(s.deposits)
    if str(path).startswith("synth:"):
        preset = str(path).split(":", 1)[1]
        synth_dir = _synth_dir(cache, preset)
        if not (synth_dir / "deposits.csv").exists():
            write_synthetic_survey(synth_dir, preset, seed=0, overwrite=True)
        path = next(p for p in synth_dir.iterdir() if p.name.startswith("survey."))
        dep_kw = dict(path=synth_dir / "deposits.csv", input_crs=kw["crs"], **dep_kw)
    grid_path = _grid_path(cache, s, Path(path))
    if not grid_path.exists():
        grid_survey(path, grid_path, tile=256, overwrite=True, progress=False, **kw)
    ds = open_grid(grid_path)
    spec = grid_spec(ds)
    all_el = [str(e) for e in ds["element"].values]
    conc = ds["concentration"].values.astype(np.float32)
    template = ds["concentration"].isel(element=0).drop_vars("element", errors="ignore").load() * np.nan
    template.attrs = {}
    deposits = read_deposits(dep_kw.pop("path"), crs=spec.pyproj_crs, **dep_kw)
    survey = read_survey(path, merge_duplicates=False, **{k: kw[k] for k in (
        "x", "y", "input_crs", "elements", "negative_is_bdl", "missing", "level_by") if k in kw})
    survey = survey.to_crs(spec.pyproj_crs)
    sx, sy = np.asarray(survey.x), np.asarray(survey.y)
    r, c, inside = spec.cell_of(sx, sy)
    return Case(s, grid_path, all_el, conc, template, deposits, np.c_[sx[inside], sy[inside]],
                np.c_[r[inside], c[inside]])


# -- detector configurations --------------------------------------------------------------------
# name -> what to compute. "kind": label-free index maps computed directly; "detector": a
# train_model call (its keyword arguments; "target": True fills in the survey's target and
# deposit type); "base": post-processing of another configuration's map ("context": the mean
# over the (2r+1)² neighbourhood, "share": weight by the suite's share of the contributions).
CONFIGS: dict[str, dict] = {
    "element": {"kind": "element"},
    "enrichment": {"kind": "enrichment"},
    "enrichment_suite": {"kind": "enrichment", "suite": True},
    "pca": {"detector": "pca"},
    "mahalanobis": {"detector": "mahalanobis"},
    "iforest": {"detector": "iforest"},
    "vae": {"detector": "vae"},
    "alad_single": {"detector": "alad", "ensemble": 1},
    "alad": {"detector": "alad"},
    # target-aware (geogan train --target)
    "alad_target": {"detector": "alad", "target": True},
    "alad_target_single": {"detector": "alad", "target": True, "ensemble": 1},
    "pca_target": {"detector": "pca", "target": True},
    "mahalanobis_target": {"detector": "mahalanobis", "target": True},
    "iforest_target": {"detector": "iforest", "target": True},
    # ablations: which ways of using the target win
    "alad_suite_single": {"detector": "alad", "target": True, "ensemble": 1, "target_weight": 0.0,
                          "matrix_correction": False},
    "alad_target_nomatrix_single": {"detector": "alad", "target": True, "ensemble": 1, "matrix_correction": False},
    "alad_target_matrix_single": {"detector": "alad", "target": True, "ensemble": 1, "matrix_correction": True},
    "alad_target_ctx": {"base": "alad_target", "context": 1},
    "element_ctx": {"base": "element", "context": 1},
    "alad_share": {"base": "alad", "share": True},
    # earlier defaults, on request (--configs)
    "pca_two_sided": {"detector": "pca", "enrichment_only": False},
    "mahalanobis_two_sided": {"detector": "mahalanobis", "enrichment_only": False},
    "iforest_two_sided": {"detector": "iforest", "enrichment_only": False},
    "alad_paper": {"detector": "alad", "transform": "clr", "epochs": 100, "enrichment_only": False, "ensemble": 1,
                   "params": {"score": "fm"}},
}
DEFAULT_CONFIGS = [c for c in CONFIGS if not c.endswith("two_sided") and c != "alad_paper"]
# the tabular benchmarks: the detectors' own defaults (no grid, no target)
TABULAR_CONFIGS = ["iforest", "pca", "mahalanobis", "alad_single", "alad"]
QUICK_STEPS = 300
QUICK_CONFIGS = ["element", "enrichment", "enrichment_suite", "iforest", "alad_single", "alad_target_single",
                 "element_ctx"]
SCORES_BY_NAME = ("latent", "l1", "fm")  # alad_single also reports these, from the same model


def _target_aware(name: str) -> bool:
    """Whether a configuration uses the survey's target (or the suite)."""
    cfg = CONFIGS[name]
    return bool(cfg.get("target") or cfg.get("suite") or cfg.get("share")
                or ("base" in cfg and _target_aware(cfg["base"])))


def _train_kwargs(cfg: dict, survey: Survey | None, quick: bool) -> dict:
    kw = {k: v for k, v in cfg.items() if k not in ("kind", "suite", "base", "context", "share")}
    if kw.pop("target", False):
        kw["target"], kw["deposit_type"] = survey.target, survey.deposit_type
    if quick and kw.get("detector") in ("alad", "vae", "autoencoder"):
        kw.pop("epochs", None)
        kw["steps"] = QUICK_STEPS
    return kw


def _robust_z(logv: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    med = np.nanmedian(logv[fit_rows], axis=0)
    q75, q25 = np.nanpercentile(logv[fit_rows], [75, 25], axis=0)
    std = np.nanstd(logv[fit_rows], axis=0)
    iqr = np.where(q75 - q25 > 0, q75 - q25, np.where(std > 0, std, 1.0))
    return (logv - med) / iqr


def index_scores(cfg: dict, case: Case, seed: int, sample: int) -> np.ndarray:
    """The label-free index maps, fitted on a random 70 % of ``sample`` cells with data."""
    from geogan.survey.pathfinders import resolve_target

    s = case.survey
    if cfg["kind"] == "element":
        return case.columns([s.target])[:, 0].astype(np.float64)
    names = (resolve_target(s.target, s.deposit_type, case.all_elements).suite if cfg.get("suite")
             else case.elements)
    logv = np.log(np.maximum(case.columns(names).astype(np.float64), 1e-12))
    has = np.flatnonzero(np.isfinite(logv).all(axis=1))
    fit = np.random.default_rng(seed).choice(has, size=min(has.size, int(sample * 0.7)), replace=False)
    return _robust_z(logv, fit).sum(axis=1)


def run_model(case: Case, name: str, cfg: dict, seed: int, *, quick: bool, sample: int, workdir: Path) -> dict:
    """Train (on a sample of the valid cells) and score every cell with data; returns the
    flat score array and training facts."""
    from geogan.training.model import load_model
    from geogan.training.stage import train_model

    kw = _train_kwargs(cfg, case.survey, quick)
    target_aware = "target" in kw
    out = workdir / f"{case.survey.name}-{name}-{seed}"
    res = train_model(case.grid_path, out, elements=None if target_aware else case.survey.elements, sample=sample,
                      seed=seed, overwrite=True, progress=False, checkpoint_every=0, **kw)
    model = load_model(out)
    X = case.columns(model.elements)
    has = np.isfinite(X).any(axis=1)
    scores = np.full(X.shape[0], np.nan, dtype=np.float64)
    scores[has] = model.score(X[has], min_elements=1 if len(model.elements) > 1 else None)
    info = {"train_s": round(res.seconds, 1), "n_train": res.n_train, "steps": model.config["training"].get("steps"),
            "score_name": model.score_name, "elements": model.elements}
    if name == "alad_single" and model.detector_name == "alad":  # every ALAD score from the same model
        info["by_score"] = {}
        for score in SCORES_BY_NAME:
            model.detector.score = score
            alt = np.full(X.shape[0], np.nan)
            alt[has] = model.score(X[has], min_elements=1 if len(model.elements) > 1 else None)
            info["by_score"][score] = alt
    info["model_dir"] = out
    if any(c.get("base") == name and c.get("share") for c in CONFIGS.values()):
        info["model"] = model  # kept for the contributions of a "share" configuration
    return {"scores": scores, **info}


def focal_mean(grid: np.ndarray, radius: int) -> np.ndarray:
    """Mean of the valid cells within ``radius`` cells (a disc), NaN where the cell is NaN."""
    from scipy import ndimage

    if radius <= 0:
        return grid
    ok = np.isfinite(grid)
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = ((yy ** 2 + xx ** 2) <= radius * radius + 0.5).astype(float)
    total = ndimage.convolve(np.where(ok, grid, 0.0), disc, mode="constant")
    count = ndimage.convolve(ok.astype(float), disc, mode="constant")
    out = total / np.maximum(count, 1e-12)
    out[~ok] = np.nan
    return out


def suite_share(case: Case, model, scores: np.ndarray) -> np.ndarray:
    """``scores`` × the share of the deposit type's suite in each cell's positive contributions."""
    from geogan.scoring.contributions import element_contributions
    from geogan.survey.pathfinders import resolve_target

    s = case.survey
    suite = set(resolve_target(s.target, s.deposit_type, case.all_elements).suite)
    X = case.columns(model.elements)
    ok = np.isfinite(X).all(axis=1)
    c = np.zeros(X.shape)
    c[ok] = np.maximum(element_contributions(model, X[ok]), 0.0)
    in_suite = np.array([e in suite for e in model.elements])
    total = c.sum(axis=1)
    share = np.where(total > 0, c[:, in_suite].sum(axis=1) / np.where(total > 0, total, 1.0), 0.0)
    # a cell none of whose elements raises the score keeps its (low) score
    rank = _percentile(scores)
    return np.where(ok, rank * np.where(total > 0, share, 1.0), rank)


def _percentile(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    out[ok] = rankdata(x[ok]) / max(ok.sum(), 1)
    return out


# -- metrics ------------------------------------------------------------------------------------
def figures(case: Case, flat_scores: np.ndarray) -> dict:
    """All-cells AUC, P-A figures and the benchmark protocol at the samples."""
    from geogan.evaluation.single import evaluate_scores
    from geogan.evaluation.metrics import sample_benchmark_auc

    grid = flat_scores.reshape(case.template.shape).astype(np.float32)
    da = case.template.copy(data=grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate_scores(da, case.deposits, min_dist_km=5.0, runs=2, seed=0, name="x")
    m = res.metrics
    at = grid[case.sample_rc[:, 0], case.sample_rc[:, 1]]
    dep = np.c_[case.deposits.x, case.deposits.y]
    bp = sample_benchmark_auc(case.sample_xy, at, dep, min_dist_km=BENCHMARK_MIN_DIST_KM)
    out = {"auc": m["roc_auc"], "bp": bp["auc_mean"], "bp_std": bp["auc_std"], "bp_samples": bp["n_samples"],
           "nd": m.get("pa_nd"), "top5": m.get("top5_deposit_pct")}
    # the protocol has no distance cap: a deposit far outside the survey takes the edge sample's
    # score. bp_in keeps the deposits within 5 km of a sample (GTK: 17 of 26)
    near = _near_samples(case)
    if not near.all():
        out["bp_in"] = sample_benchmark_auc(case.sample_xy, at, dep[near], min_dist_km=BENCHMARK_MIN_DIST_KM)["auc_mean"]
    return out


def _near_samples(case: Case, km: float = 5.0) -> np.ndarray:
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(case.sample_xy).query(np.c_[case.deposits.x, case.deposits.y])
    return dist <= km * 1000.0


# -- the tabular benchmarks -----------------------------------------------------------------------
def tabular_one(dataset: str, name: str, cfg: dict, seed: int, *, quick: bool, cache: Path) -> dict | None:
    """The ALAD paper's protocols (``bench/_tabular.py``): the detectors' defaults, F1 and ROC AUC."""
    from geogan.detectors import Ensemble, get_detector
    from geogan.training.stage import DEFAULT_ENSEMBLE

    split = _tabular.arrhythmia(seed) if dataset == "arrhythmia" else _tabular.kddcup(seed, cache)
    if split is None or "detector" not in cfg or cfg.get("target"):
        return None
    kw = _train_kwargs(cfg, None, quick)
    params = dict(kw.get("params") or {})
    params.update({k: kw[k] for k in ("steps", "epochs") if k in kw})
    if "epochs" in params:
        params.setdefault("steps", None)
    ensemble = kw.get("ensemble", DEFAULT_ENSEMBLE.get(cfg["detector"], 1))
    t0 = time.perf_counter()
    if ensemble > 1:
        det = Ensemble(detector=cfg["detector"], n_members=ensemble, params=params, random_state=seed).fit(
            split.X_train)
    else:
        det = get_detector(cfg["detector"], random_state=seed, **params).fit(split.X_train)
    out = _tabular.f1_at_threshold(det.decision_function(split.X_test), split)
    out.update(seconds=round(time.perf_counter() - t0, 1), score_name=det.score_name)
    if name == "alad_single":
        out["by_score"] = {}
        for score in SCORES_BY_NAME:
            det.score = score
            out["by_score"][score] = _tabular.f1_at_threshold(det.decision_function(split.X_test), split)
    return out


# -- the tables -----------------------------------------------------------------------------------
def _fmt(vals: list, digits: int = 3, draws: list | None = None) -> str:
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return "—"
    text = f"{v[0]:.{digits}f} (1 seed)" if v.size == 1 else f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"
    if draws:
        d = np.array([x for x in draws if x is not None and np.isfinite(x)], float)
        if d.size:
            text += f" [±{d.mean():.2f}]"
    if v.size not in (1, 3) and v.size < 5:
        text += f" ({v.size} seeds)"
    return text


def table(results: dict, surveys: list[str], configs: list[str], metric: str) -> str:
    lines = ["| detector | " + " | ".join(surveys) + " |", "|" + "---|" * (len(surveys) + 1)]
    for c in configs:
        cells = []
        for s in surveys:
            rows = [r for (sv, cf, _), r in results.items() if sv == s and cf == c]
            key = ("f1" if metric in ("auc", "bp") else metric) if s in TABULAR else metric
            if metric == "bp_in" and s not in TABULAR:
                rows = [r for r in rows if "bp_in" in r] or []
            draws = [r.get("bp_std") for r in rows] if key == "bp" else None
            cells.append(_fmt([r.get(key) for r in rows], draws=draws) if rows else "")
        if any(cells):
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    if metric == "bp" and any(s in f for f in PUBLISHED.values() for s in surveys):
        for label, figures_ in PUBLISHED.items():
            cells = [f"{figures_[s][0]:.3f} ± {figures_[s][1]:.3f} (draws)" if s in figures_ else "" for s in surveys]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scores_table(results: dict, surveys: list[str]) -> str:
    """ALAD's single model: the default score (auto) beside each score from the same models."""
    lines = ["| score | " + " | ".join(surveys) + " |", "|" + "---|" * (len(surveys) + 1)]
    for score in ("default",) + SCORES_BY_NAME:
        cells = []
        for s in surveys:
            rows = [r for (sv, cf, _), r in results.items() if sv == s and cf == "alad_single"]
            if s in TABULAR:
                vals = [r.get("f1") if score == "default" else (r.get("by_score") or {}).get(score, {}).get("f1")
                        for r in rows]
            else:
                vals = [r.get("bp") if score == "default" else (r.get("by_score") or {}).get(score, {}).get("bp")
                        for r in rows]
            name = {r.get("score_name") for r in rows} if score == "default" else None
            cell = _fmt(vals)
            if name:
                cell += f" ({'/'.join(sorted(str(n) for n in name))})"
            cells.append(cell if rows else "")
        lines.append(f"| {score} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _key(survey: Survey | str, name: str, cfg: dict, seed: int, quick: bool) -> str:
    sdef = survey if isinstance(survey, str) else json.dumps(
        {k: v for k, v in asdict(survey).items() if k != "plain_only"}, sort_keys=True, default=str)
    h = hashlib.sha256(json.dumps([sdef, cfg, quick], sort_keys=True, default=str).encode()).hexdigest()[:8]
    name_s = survey if isinstance(survey, str) else survey.name
    return f"{name_s}__{name}__{seed}__{h}"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="demo only, 2 seeds, 300-step training, a few rows")
    ap.add_argument("--surveys", default=None, help="comma-separated (default: all)")
    ap.add_argument("--configs", default=None, help="comma-separated (default: all but the earlier defaults)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sample", type=int, default=40000, help="cells drawn for training (70 %% train)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--table", action="store_true", help="only print the tables of cached results")
    ap.add_argument("--why", default=None, metavar="SURVEY",
                    help="per deposit: the percentile, among the samples, of every element and of the target-aware "
                         "map at the deposit's nearest sample (one alad_target_single model, seed 0)")
    args = ap.parse_args(argv)
    if args.why:
        return why(args.why, cache=args.cache, sample=args.sample)
    all_surveys = _surveys()
    names = ["demo"] if args.quick and not args.surveys else (args.surveys.split(",") if args.surveys else
                                                               [*all_surveys, *TABULAR])
    unknown = [n for n in names if n not in all_surveys and n not in TABULAR]
    cfg_names = args.configs.split(",") if args.configs else (QUICK_CONFIGS if args.quick else DEFAULT_CONFIGS)
    unknown += [c for c in cfg_names if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown survey(s) or configuration(s): {', '.join(unknown)}")
    seeds = list(range(2 if args.quick else args.seeds))
    cache = args.cache / ("quick" if args.quick else "full")
    cache.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="geogan-quality-"))
    try:
        for sname in names:
            tabular = sname in TABULAR
            case = None
            if not tabular:
                s = all_surveys[sname]
                if not str(s.grid["path"]).startswith("synth:") and not Path(s.grid["path"]).exists():
                    print(f"skip {sname}: {s.grid['path']} absent")
                    continue
            elif sname == "kddcup" and _tabular.kdd_path(args.cache) is None:
                print(f"skip kddcup: no KDD Cup 99 10 % file (set GEOGAN_KDDCUP or put {_tabular.KDD_FILES[0]} in "
                      f"{args.cache})")
                continue
            elif sname == "arrhythmia" and not _tabular.ARRHYTHMIA.exists():
                print(f"skip arrhythmia: {_tabular.ARRHYTHMIA} absent")
                continue
            for cname in cfg_names:
                cfg = CONFIGS[cname]
                if tabular and cname not in TABULAR_CONFIGS:
                    continue
                if not tabular and all_surveys[sname].plain_only and _target_aware(cname):
                    continue
                for seed in seeds:
                    file = cache / (_key(sname if tabular else all_surveys[sname], cname, cfg, seed, args.quick)
                                    + ".json")
                    if file.exists() and not args.fresh:
                        results[(sname, cname, seed)] = json.loads(file.read_text())
                        continue
                    if args.table:
                        continue
                    if tabular:
                        r = tabular_one(sname, cname, cfg, seed, quick=args.quick, cache=args.cache)
                        if r is None:
                            continue
                    else:
                        if case is None:
                            case = prepare(all_surveys[sname], args.cache)
                            print(f"== {sname}: {np.isfinite(case.conc).any(axis=0).sum():,} cells with data, "
                                  f"{len(case.sample_xy):,} samples, {len(case.deposits)} deposits", flush=True)
                        r = compute(case, cname, cfg, seed, quick=args.quick, sample=args.sample, work=work)
                        if r is None:
                            continue
                    r.update(survey=sname, config=cname, seed=seed)
                    results[(sname, cname, seed)] = r
                    file.write_text(json.dumps(r, default=float))
                    shown = " ".join(f"{k} {v:.3f}" for k, v in r.items() if isinstance(v, float) and k in
                                     ("bp", "auc", "nd", "f1"))
                    print(f"{sname:10s} {cname:28s} seed {seed}: {shown}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    surveys = [s for s in names if any(k[0] == s for k in results)]
    cfgs = [c for c in cfg_names if any(k[1] == c for k in results)]
    for metric, title in (("bp", "benchmark protocol AUC at the samples (tabular: F1), mean ± std over seeds "
                                 "[± std over the 20 draws]"),
                          ("bp_in", "benchmark protocol, deposits within 5 km of a sample only (surveys with "
                                    "deposits farther out)"),
                          ("auc", "all-cells ROC AUC (tabular: F1)"), ("nd", "P-A Nd"),
                          ("top5", "top-5 % deposit share (%)")):
        print(f"\n{title}\n")
        print(table(results, surveys, cfgs, metric))
    if any(k[1] == "alad_single" for k in results):
        print("\nALAD single model: the default score beside each score of the same models (bp; tabular: F1)\n")
        print(scores_table(results, surveys))
    summary = {"bench": "quality", "quick": args.quick, "machine": machine(), "load_avg_1min": load_average(),
               "seconds": round(time.perf_counter() - t0, 1),
               "bp": {f"{s}/{c}": round(float(np.mean([r.get("f1" if s in TABULAR else "bp")
                                                       for k, r in results.items() if k[0] == s and k[1] == c])), 3)
                      for s in surveys for c in cfgs if any(k[0] == s and k[1] == c for k in results)}}
    emit(summary)
    return summary


def why(name: str, *, cache: Path, sample: int) -> dict:
    """What each deposit's nearest sample shows: why a map reaches the AUC it does."""
    from scipy.spatial import cKDTree
    from scipy.stats import rankdata

    from geogan.survey.pathfinders import resolve_target

    s = _surveys()[name]
    case = prepare(s, cache)
    work = Path(tempfile.mkdtemp(prefix="geogan-quality-why-"))
    try:
        flat = run_model(case, "alad_target_single", CONFIGS["alad_target_single"], 0, quick=False, sample=sample,
                         workdir=work)["scores"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    grid = flat.reshape(case.template.shape)
    rows, cols = case.sample_rc[:, 0], case.sample_rc[:, 1]
    suite = resolve_target(s.target, s.deposit_type, case.all_elements).suite
    shown = suite + [e for e in case.elements if e not in suite]
    layers = {e: case.conc[case.all_elements.index(e)][rows, cols] for e in shown}
    layers["target-aware"] = grid[rows, cols]

    def pct(v):
        out = np.full(v.shape, np.nan)
        ok = np.isfinite(v)
        out[ok] = 100 * rankdata(v[ok]) / ok.sum()
        return out

    pcts = {k: pct(v) for k, v in layers.items()}
    dist, nearest = cKDTree(case.sample_xy).query(np.c_[case.deposits.x, case.deposits.y])
    print(f"{name}: percentile among the {len(case.sample_xy):,} samples at each deposit's nearest sample "
          f"(suite of {s.deposit_type}: {' '.join(suite)}; others: {' '.join(e for e in shown if e not in suite)})\n")
    head = ["deposit", "m"] + list(pcts)
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    table = []
    for k, (d, i) in enumerate(zip(dist, nearest)):
        vals = [pcts[c][i] for c in pcts]
        table.append(vals)
        print(f"| {k + 1} | {d:.0f} | " + " | ".join("—" if not np.isfinite(v) else f"{v:.0f}" for v in vals) + " |")
    means = np.nanmean(np.array(table), axis=0)
    print("| mean | | " + " | ".join(f"{v:.0f}" for v in means) + " |")
    out = {"bench": "quality-why", "survey": name, "mean_percentile": dict(zip(pcts, np.round(means, 1).tolist()))}
    emit(out)
    return out


_MAPS: dict = {}  # (survey, config, seed) -> flat scores (and the model), for post-processing configs


def compute(case: Case, name: str, cfg: dict, seed: int, *, quick: bool, sample: int, work: Path) -> dict | None:
    """One configuration's figures on one survey and seed (None: not applicable here)."""
    s = case.survey
    t0 = time.perf_counter()
    if "base" in cfg:
        key = (s.name, cfg["base"], seed)
        if key not in _MAPS:
            base = CONFIGS[cfg["base"]]
            _MAPS[key] = _map(case, cfg["base"], base, seed, quick=quick, sample=sample, work=work)
        flat, model = _MAPS[key]["scores"], _MAPS[key].get("model")
        if cfg.get("share"):
            if model is None or len(case.all_elements) > 20:  # contributions of 39 elements × 5 members: skipped
                return None
            flat = suite_share(case, model, flat)
        if cfg.get("context"):
            flat = focal_mean(flat.reshape(case.template.shape), int(cfg["context"])).reshape(-1)
        info = {}
    else:
        out = _map(case, name, cfg, seed, quick=quick, sample=sample, work=work)
        _MAPS[(s.name, name, seed)] = out
        flat = out["scores"]
        info = {k: v for k, v in out.items() if k in ("train_s", "n_train", "steps", "score_name", "elements")}
        if "by_score" in out:
            info["by_score"] = {k: figures(case, v) for k, v in out["by_score"].items()}
    return {**figures(case, flat), **info, "seconds": round(time.perf_counter() - t0, 1)}


def _map(case: Case, name: str, cfg: dict, seed: int, *, quick: bool, sample: int, work: Path) -> dict:
    if "kind" in cfg:
        return {"scores": index_scores(cfg, case, seed, sample)}
    out = run_model(case, name, cfg, seed, quick=quick, sample=sample, workdir=work)
    shutil.rmtree(out.pop("model_dir"), ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
