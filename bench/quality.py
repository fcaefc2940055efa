"""Detection quality: every detector configuration × seeds on every survey we have, one table.

Surveys (columns): the real ones in ``../shared/data`` (GSWA soil1 and rock2 against MINEDEX
Au mines, GTK Lapland till against IOCG sites), the synthetic ``demo`` preset (the paper's
five pathfinders, and all 13 elements), a 300 × 300 km window of the synthetic ``national``
preset (39 elements, 7 deposit types), and the ODDS arrhythmia table (the ALAD paper's
tabular benchmark; F1 at the 85th percentile, 50/50 split). Each survey is gridded once
(cached) with ``geogan.grid.grid_survey``; each configuration then goes through the public
API a user gets: ``geogan.train.train_model`` (its defaults unless the configuration says
otherwise) → ``load_model(...).score`` on every valid cell → ``geogan.evaluate``.

Detectors (rows) always include the baselines: the survey's target element alone (its
commodity's element, chosen from the deposit type, not from labels), an additive
enrichment index (sum of robust z-scores of the log concentrations), PCA, robust
Mahalanobis, IsolationForest and the VAE. No configuration sees a deposit label; labels
are used only to compute the figures.

Figures per (detector, survey), mean ± std over seeds:
- ``auc``: all-cells ROC AUC (cells holding a deposit vs every other valid cell);
- ``ns``: negative-sampling AUC at the sample sites (GeoChemAD protocol: positives = the
  score at the sample site nearest each deposit, negatives = as many random sample sites
  ≥ ``min_dist`` from every deposit, 20 draws);
- ``nd``: P-A normalised density at the intersection; ``top5``: % of deposits in the
  highest-scoring 5 % of the area.

    python bench/quality.py                      # every survey × every configuration, 5 seeds
    python bench/quality.py --quick              # demo only, 2 seeds, 300-step training, no VAE (~75 s)
    python bench/quality.py --surveys soil1,rock2 --configs alad,pca --seeds 3
    python bench/quality.py --table              # print the table from the cached results

Results are cached per (survey, configuration, seed) in ``--cache`` (JSON), so an
interrupted run continues; ``--fresh`` recomputes. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import emit, load_average, machine, tf_cpu_threads  # noqa: E402

tf_cpu_threads()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "geogan-quality"


# -- surveys ------------------------------------------------------------------------------------
@dataclass
class Survey:
    """How to grid one survey, and which element a single-element map would use."""

    name: str
    target: str                       # the deposit type's commodity element (a baseline)
    grid: dict                        # grid_survey keyword arguments (survey path filled in)
    deposits: dict                    # read_deposits keyword arguments
    elements: list[str] | None = None  # elements the detectors use (None: all in the grid)
    note: str = ""


def _surveys(cache: Path) -> dict[str, Survey]:
    soil1, rock2, gtk = DATA / "gswa-soil1", DATA / "gswa-rock2", DATA / "gtk-lapland-till"
    gswa = dict(input_crs="EPSG:4283", crs="EPSG:28350", negative_is_bdl=True, missing=(-9999,))
    out = {
        "demo": Survey("demo", "W", dict(path="synth:demo", crs="EPSG:32650", input_crs="EPSG:32650", cell_size_m=500),
                       dict(), elements=["Ag", "Bi", "Mo", "Sn", "W"],
                       note="synthetic, the paper's 5 pathfinders (Ag Bi Mo Sn W), 20 W deposits"),
        "demo13": Survey("demo13", "W", dict(path="synth:demo", crs="EPSG:32650", input_crs="EPSG:32650",
                                             cell_size_m=500), dict(), elements=None,
                         note="synthetic, all 13 elements incl. lithology-driven Cr, Fe2O3, K2O"),
        "national": Survey("national", "W", dict(path="synth:national", crs="ESRI:102025", input_crs="ESRI:102025",
                                                 cell_size_m=500, bounds=(1_200_000.0, 1_200_000.0, 1_500_000.0,
                                                                          1_500_000.0)),
                           dict(), elements=None,
                           note="synthetic national preset, 300 × 300 km window, 39 elements, 7 deposit types"),
        "soil1": Survey("soil1", "Au", dict(path=soil1 / "area6_soil_au.csv", cell_size_m=100, level_by="WAMEX_A_NO",
                                            elements=["Au", "Ag", "Cu", "Pb", "Zn", "Ni", "Co"], **gswa),
                        dict(path=soil1 / "area6_soil_au_site.csv", input_crs="EPSG:4283"),
                        note="GSWA soil, 7 elements with values, 100 m, 14 Au mines"),
        "rock2": Survey("rock2", "Au", dict(path=rock2 / "area4_rockchip_au.csv", cell_size_m=50,
                                            elements=["Au", "As", "Ag", "Cu", "Pb", "Zn", "Mo", "Sb", "Bi", "W"],
                                            **gswa),
                        dict(path=rock2 / "area4_rockchip_au_site.csv", input_crs="EPSG:4283"),
                        note="GSWA rock chips, 10 orogenic-Au pathfinders, 50 m, 12 Au mines"),
        "gtk": Survey("gtk", "Cu", dict(path=gtk / "till_samples.csv", x="x_etrstm35fin", y="y_etrstm35fin",
                                        input_crs="EPSG:3067", crs="EPSG:3067", cell_size_m=500),
                      dict(path=gtk / "iocg_deposits_prospects_occurrences_26.csv", x="x_etrstm35fin",
                           y="y_etrstm35fin", input_crs="EPSG:3067"),
                      note="GTK till, 22 elements (no Au/As), 500 m, 26 IOCG sites"),
    }
    return out


@dataclass
class Case:
    """A gridded survey in memory: valid cells' raw values and where they are."""

    survey: Survey
    grid_path: Path
    elements: list[str]
    values: np.ndarray        # (n_valid, n_elements) raw concentrations
    rows: np.ndarray
    cols: np.ndarray
    template: object          # xarray DataArray (y, x) with CRS, all NaN
    deposits: object          # geogan.deposits.Deposits in the grid CRS
    site_cells: np.ndarray    # flat indices of cells holding ≥ 1 sample (and valid)
    extras: dict = field(default_factory=dict)


def _grid_path(cache: Path, s: Survey) -> Path:
    key = hashlib.sha256(json.dumps(s.grid, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return cache / "grids" / f"{s.name}-{key}.zarr"


def prepare(s: Survey, cache: Path) -> Case:
    """Grid the survey once (cached) and load its valid cells."""
    from geogan.deposits import read_deposits
    from geogan.grid import grid_survey
    from geogan.store import grid_spec, open_grid
    from geogan.survey import read_survey
    from geogan.synth import write_synthetic_survey

    kw = dict(s.grid)
    path = kw.pop("path")
    dep_kw = dict(s.deposits)
    if str(path).startswith("synth:"):
        preset = str(path).split(":", 1)[1]
        synth_dir = cache / "synth" / preset
        if not (synth_dir / "deposits.csv").exists():
            write_synthetic_survey(synth_dir, preset, seed=0, overwrite=True)
        path = next(p for p in synth_dir.iterdir() if p.name.startswith("survey."))
        dep_kw = dict(path=synth_dir / "deposits.csv", input_crs=kw["crs"])
    grid_path = _grid_path(cache, s)
    if not grid_path.exists():
        grid_survey(path, grid_path, tile=256, overwrite=True, progress=False, **kw)
    ds = open_grid(grid_path)
    spec = grid_spec(ds)
    all_el = [str(e) for e in ds["element"].values]
    elements = s.elements or all_el
    conc = ds["concentration"].sel(element=elements).values.astype(np.float32)  # (e, y, x)
    valid = np.isfinite(conc).all(axis=0)
    rows, cols = np.nonzero(valid)
    template = ds["concentration"].isel(element=0).drop_vars("element", errors="ignore").load() * np.nan
    template.attrs = {}
    deposits = read_deposits(dep_kw.pop("path"), crs=spec.pyproj_crs, **dep_kw)
    survey = read_survey(path, **{k: kw[k] for k in ("x", "y", "input_crs", "elements", "negative_is_bdl",
                                                     "missing", "level_by") if k in kw})
    survey = survey.to_crs(spec.pyproj_crs)
    r, c, inside = spec.cell_of(np.asarray(survey.x), np.asarray(survey.y))
    flat = np.unique(r[inside] * spec.width + c[inside])
    flat = flat[valid.reshape(-1)[flat]]
    return Case(s, grid_path, elements, conc[:, rows, cols].T.copy(), rows, cols, template, deposits, flat)


# -- detector configurations --------------------------------------------------------------------
# name -> train_model keyword arguments (None values: train_model's defaults). "element" and
# "enrichment" are label-free index maps computed directly.
CONFIGS: dict[str, dict] = {
    "element": {"kind": "element"},
    "enrichment": {"kind": "enrichment"},
    "pca": {"detector": "pca"},
    "mahalanobis": {"detector": "mahalanobis"},
    "iforest": {"detector": "iforest"},
    "vae": {"detector": "vae"},
    # the baselines scoring depletions too (what enrichment_only=True changed)
    "pca_two_sided": {"detector": "pca", "enrichment_only": False},
    "mahalanobis_two_sided": {"detector": "mahalanobis", "enrichment_only": False},
    "iforest_two_sided": {"detector": "iforest", "enrichment_only": False},
    # before this work: the seed paper's settings (clr, fm, 100 epochs, two-sided, one seed)
    "alad_paper": {"detector": "alad", "transform": "clr", "epochs": 100, "enrichment_only": False, "ensemble": 1,
                   "detector_params": {"score": "fm"}},
    "alad_single": {"detector": "alad", "ensemble": 1},  # today's defaults, one seed
    "alad": {"detector": "alad"},                        # today's defaults (a seed ensemble)
}
QUICK_STEPS = 300
QUICK_CONFIGS = ["element", "enrichment", "pca", "mahalanobis", "iforest", "alad_single", "alad"]


def _train_kwargs(cfg: dict, quick: bool) -> dict:
    kw = {k: v for k, v in cfg.items() if k not in ("kind",)}
    if quick and kw.get("detector") in ("alad", "vae", "autoencoder"):
        kw.pop("epochs", None)
        kw["steps"] = QUICK_STEPS
    return kw


def index_scores(kind: str, case: Case, train_idx: np.ndarray) -> np.ndarray:
    """The label-free index baselines, fitted on the training cells."""
    logv = np.log(np.maximum(case.values, 1e-12))
    med = np.median(logv[train_idx], axis=0)
    q75, q25 = np.percentile(logv[train_idx], [75, 25], axis=0)
    iqr = np.where(q75 - q25 > 0, q75 - q25, logv[train_idx].std(axis=0) + 1e-12)
    z = (logv - med) / iqr
    if kind == "element":
        return z[:, case.elements.index(case.survey.target)] if case.survey.target in case.elements else \
            np.full(len(z), np.nan)
    return z.sum(axis=1)


def run_one(case: Case, name: str, cfg: dict, seed: int, *, quick: bool, sample: int, workdir: Path) -> dict:
    """Train (on a sample of the valid cells) and score every valid cell; returns raw scores' figures."""
    from geogan.model import load_model
    from geogan.train import train_model

    t0 = time.perf_counter()
    if cfg.get("kind") in ("element", "enrichment"):
        rng = np.random.default_rng(seed)
        n = len(case.values)
        train_idx = rng.choice(n, size=min(n, int(sample * 0.7)), replace=False)
        scores = index_scores(cfg["kind"], case, train_idx)
        info = {}
    else:
        kw = _train_kwargs(cfg, quick)
        out = workdir / f"{case.survey.name}-{name}-{seed}"
        res = train_model(case.grid_path, out, elements=case.elements, sample=sample, seed=seed, overwrite=True,
                          progress=False, checkpoint_every=0, **kw)
        model = load_model(out)
        scores = model.score(case.values)
        info = {"train_s": round(res.seconds, 1), "n_train": res.n_train,
                "steps": model.config["training"].get("steps")}
        shutil.rmtree(out, ignore_errors=True)
    return {"scores": scores, "seconds": round(time.perf_counter() - t0, 1), **info}


# -- metrics ------------------------------------------------------------------------------------
def site_negsamp_auc(case: Case, grid: np.ndarray, *, min_dist_m: float, runs: int, seed: int) -> float | None:
    """GeoChemAD-style AUC at the sample sites: nearest site to each deposit vs random far sites."""
    from scipy.spatial import cKDTree
    from sklearn.metrics import roc_auc_score

    width = grid.shape[1]
    sites = case.site_cells
    sx = case.template["x"].values[sites % width]
    sy = case.template["y"].values[sites // width]
    tree = cKDTree(np.c_[sx, sy])
    d = case.deposits
    inside = (d.x >= sx.min() - min_dist_m) & (d.x <= sx.max() + min_dist_m) & (d.y >= sy.min() - min_dist_m) & \
        (d.y <= sy.max() + min_dist_m)
    if not inside.any():
        return None
    _, nearest = tree.query(np.c_[d.x[inside], d.y[inside]])
    pos = grid.reshape(-1)[sites[np.unique(nearest)]]
    dist, _ = cKDTree(np.c_[d.x, d.y]).query(np.c_[sx, sy])
    far = np.flatnonzero(dist >= min_dist_m)
    if far.size == 0:
        return None
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(runs):
        neg_idx = rng.choice(far, size=min(far.size, pos.size), replace=False)
        neg = grid.reshape(-1)[sites[neg_idx]]
        aucs.append(roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg]))
    return float(np.mean(aucs))


def figures(case: Case, scores: np.ndarray, *, min_dist_m: float) -> dict:
    from geogan.evaluate import evaluate_scores

    grid = np.full(case.template.shape, np.nan, dtype=np.float32)
    grid[case.rows, case.cols] = scores
    da = case.template.copy(data=grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate_scores(da, case.deposits, min_dist_km=min_dist_m / 1e3, runs=20, seed=0, name="x")
    m = res.metrics
    return {"auc": m["roc_auc"], "ns": site_negsamp_auc(case, grid, min_dist_m=min_dist_m, runs=20, seed=0),
            "nd": m.get("pa_nd"), "top5": m.get("top5_deposit_pct")}


# -- arrhythmia ---------------------------------------------------------------------------------
def arrhythmia_one(name: str, cfg: dict, seed: int, *, quick: bool) -> dict | None:
    """The ALAD paper's protocol: 50/50 split per seed, standardised, F1 at the 85th percentile."""
    import scipy.io
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score
    from sklearn.model_selection import train_test_split

    from geogan.detectors import Ensemble, get_detector
    from geogan.train import DEFAULT_ENSEMBLE

    path = DATA / "arrhythmia" / "arrhythmia.mat"
    if not path.exists() or cfg.get("kind") in ("element", "enrichment"):
        return None
    mat = scipy.io.loadmat(path)
    X, y = np.asarray(mat["X"], float), np.asarray(mat["y"]).ravel().astype(int)
    X_tr, X_te, _, y_te = train_test_split(X, y, test_size=0.5, random_state=seed)
    mean, std = X_tr.mean(0), X_tr.std(0)
    std = np.where(std > 0, std, 1.0)
    A_tr, A_te = ((X_tr - mean) / std).astype(np.float32), ((X_te - mean) / std).astype(np.float32)
    kw = _train_kwargs(cfg, quick)
    params = dict(kw.get("detector_params") or {})
    params.update({k: kw[k] for k in ("steps", "epochs") if k in kw})
    if "epochs" in params:
        params.setdefault("steps", None)
    ensemble = kw.get("ensemble", DEFAULT_ENSEMBLE.get(cfg["detector"], 1))
    if ensemble > 1:
        det = Ensemble(detector=cfg["detector"], n_members=ensemble, params=params, random_state=seed).fit(A_tr)
    else:
        det = get_detector(cfg["detector"], random_state=seed, **params).fit(A_tr)
    s = det.decision_function(A_te)
    pred = s >= np.percentile(s, 85)
    _, _, f1, _ = precision_recall_fscore_support(y_te, pred.astype(int), average="binary", zero_division=0)
    return {"f1": float(f1), "auc": float(roc_auc_score(y_te, s))}


# -- the table ----------------------------------------------------------------------------------
def _fmt(vals: list[float | None], digits: int = 3) -> str:
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return "—"
    if v.size == 1:
        return f"{v[0]:.{digits}f} (1 seed)"
    text = f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"
    return text if v.size >= 5 else f"{text} ({v.size} seeds)"


def table(results: dict, surveys: list[str], configs: list[str], metric: str) -> str:
    head = "| detector | " + " | ".join(surveys) + " |"
    lines = [head, "|" + "---|" * (len(surveys) + 1)]
    for c in configs:
        cells = []
        for s in surveys:
            rows = [r for (sv, cf, _), r in results.items() if sv == s and cf == c]
            key = "f1" if s == "arrhythmia" and metric == "auc" else metric
            cells.append(_fmt([r.get(key) for r in rows]) if rows else "")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="demo only, 2 seeds, 300-step training, fewer configurations")
    ap.add_argument("--surveys", default=None, help="comma-separated (default: all)")
    ap.add_argument("--configs", default=None, help="comma-separated (default: all)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--sample", type=int, default=40000, help="cells drawn for training (70 %% train)")
    ap.add_argument("--min-dist", type=float, default=None, help="negative-sampling distance in m (default: 5 km, "
                    "or a fifth of the survey's extent when smaller)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--table", action="store_true", help="only print the table of cached results")
    ap.add_argument("--extra", default=None, help="JSON of further configurations {name: train kwargs}")
    args = ap.parse_args(argv)
    configs = dict(CONFIGS)
    if args.extra:
        configs.update(json.loads(Path(args.extra).read_text() if args.extra.endswith(".json") else args.extra))
    all_surveys = _surveys(args.cache)
    names = ["demo"] if args.quick and not args.surveys else (args.surveys.split(",") if args.surveys else
                                                               [*all_surveys, "arrhythmia"])
    cfg_names = args.configs.split(",") if args.configs else (QUICK_CONFIGS if args.quick else list(configs))
    seeds = list(range(2 if args.quick else args.seeds))
    cache = args.cache / ("quick" if args.quick else "full")
    cache.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for f in cache.glob("*.json"):
        r = json.loads(f.read_text())
        results[(r["survey"], r["config"], r["seed"])] = r
    t0 = time.perf_counter()
    if not args.table:
        work = Path(tempfile.mkdtemp(prefix="geogan-quality-"))
        for sname in names:
            if sname != "arrhythmia":
                s = all_surveys[sname]
                if not str(s.grid["path"]).startswith("synth:") and not Path(s.grid["path"]).exists():
                    print(f"skip {sname}: {s.grid['path']} absent")
                    continue
                case = prepare(s, args.cache)
                ext = min(np.ptp(case.template["x"].values), np.ptp(case.template["y"].values))
                min_dist = args.min_dist or min(5000.0, ext / 5)
                print(f"== {sname}: {len(case.values):,} valid cells, {len(case.site_cells):,} sample sites, "
                      f"{len(case.deposits)} deposits; negative sampling ≥ {min_dist / 1e3:.2f} km", flush=True)
            for cname in cfg_names:
                cfg = configs[cname]
                for seed in seeds:
                    key = (sname, cname, seed)
                    file = cache / f"{sname}__{cname}__{seed}.json"
                    if key in results and not args.fresh:
                        continue
                    if sname == "arrhythmia":
                        r = arrhythmia_one(cname, cfg, seed, quick=args.quick)
                        if r is None:
                            continue
                    else:
                        out = run_one(case, cname, cfg, seed, quick=args.quick, sample=args.sample, workdir=work)
                        r = {**figures(case, out.pop("scores"), min_dist_m=min_dist), **out}
                    r.update(survey=sname, config=cname, seed=seed)
                    results[key] = r
                    file.write_text(json.dumps(r))
                    shown = " ".join(f"{k} {v:.3f}" for k, v in r.items() if isinstance(v, float) and k in
                                     ("auc", "ns", "nd", "top5", "f1"))
                    print(f"{sname:10s} {cname:22s} seed {seed}: {shown}", flush=True)
    surveys = [s for s in names if any(k[0] == s for k in results)]
    cfgs = [c for c in cfg_names if any(k[1] == c for k in results)]
    for metric, title in (("auc", "all-cells ROC AUC (arrhythmia: F1)"), ("ns", "negative-sampling AUC at sample "
                          "sites"), ("nd", "P-A Nd"), ("top5", "top-5 % deposit share (%)")):
        print(f"\n{title}, mean ± std over seeds\n")
        print(table(results, surveys, cfgs, metric))
    summary = {"bench": "quality", "quick": args.quick, "machine": machine(), "load_avg_1min": load_average(),
               "seconds": round(time.perf_counter() - t0, 1),
               "auc": {f"{s}/{c}": round(float(np.mean([r.get("f1" if s == "arrhythmia" else "auc")
                                                        for k, r in results.items() if k[0] == s and k[1] == c])), 3)
                       for s in surveys for c in cfgs if any(k[0] == s and k[1] == c for k in results)}}
    emit(summary)
    return summary


if __name__ == "__main__":
    main()
