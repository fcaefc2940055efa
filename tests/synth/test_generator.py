"""Tests of the synthetic survey generator (geogan.synth.generator, through make_survey): the
world, its geochemistry, the demo's traps, reproducibility."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from geogan import synth
from geogan.synth import PRESETS, make_survey
from tests.helpers.synth import RGNR_39, element_columns, numeric

PATHFINDERS = ("W_ppm", "Sn_ppm", "Mo_ppm", "Bi_ppm", "Ag_ppb")


@pytest.fixture(scope="module")
def demo():
    return make_survey("demo", seed=0)


@pytest.fixture(scope="module")
def national_slice():
    # the national preset's world (39 elements, 3,100 km, 3,300 halos) with few samples
    return make_survey("national", n_samples=20_000, seed=3)


def halo_bound(truth: dict, x: np.ndarray, y: np.ndarray, symbol: str) -> np.ndarray:
    """Upper bound of the halo enrichment of ``symbol`` at points (isotropic, widest reach)."""
    bound = np.zeros(len(x))
    for halo in truth["halos"]:
        amplitude = halo["amplitudes"].get(symbol, 0.0)
        if amplitude:
            d = np.hypot(x - halo["x"], y - halo["y"])
            reach = 1.6 * halo["radius_m"] * np.sqrt(halo["aspect"])
            bound += amplitude * np.exp(-((d / reach) ** 2))
    return bound


@pytest.mark.slow
def test_national_slice_has_39_elements_and_the_preset_world(national_slice):
    table, truth = national_slice.table, national_slice.truth
    assert len(table) == 20_000
    assert [c.split("_")[0] for c in element_columns(table)] == RGNR_39
    assert {"Ag_ppb", "Au_ppb", "Hg_ppb", "SiO2_pct", "MgO_pct", "Ti_ppm"} <= set(table.columns)
    assert truth["crs"] == "ESRI:102025" and national_slice.crs == "ESRI:102025"
    ext = truth["extent"]
    assert table["x"].between(ext["xmin"], ext["xmax"]).all()
    assert table["y"].between(ext["ymin"], ext["ymax"]).all()
    assert len(national_slice.deposits) == PRESETS["national"].n_deposits
    assert national_slice.deposits["type"].nunique() >= 5
    censored = {e["symbol"]: e["censored_fraction"] for e in truth["elements"]}
    assert sum(0.05 <= f <= 0.40 for f in censored.values()) >= 5
    assert all(censored[s] == 0 for s in ("SiO2", "Al2O3", "Fe2O3"))


# ----------------------------------------------------------------------------- schema


def test_demo_schema(demo):
    table, truth = demo.table, demo.truth
    assert len(table) == 5_000
    assert list(table.columns[:3]) == ["sample_id", "x", "y"]
    columns = element_columns(table)
    assert columns == [synth.ELEMENTS[s].column for s in PRESETS["demo"].elements]
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*_(ppm|ppb|pct)", c) for c in columns)
    assert {"W_ppm", "Ag_ppb", "Au_ppb", "Fe2O3_pct"} <= set(columns)
    assert table["sample_id"].is_unique
    assert [e["column"] for e in truth["elements"]] == columns
    ext = truth["extent"]
    assert table["x"].between(ext["xmin"], ext["xmax"]).all()
    assert table["y"].between(ext["ymin"], ext["ymax"]).all()


def test_demo_has_censoring_missing_cells_and_field_duplicates(demo):
    table, truth = demo.table, demo.truth
    by_column = {e["column"]: e for e in truth["elements"]}
    well_censored = 0
    for column in element_columns(table):
        info = by_column[column]
        text = table[column].astype("str")
        is_censored = text.str.startswith("<").to_numpy()
        if is_censored.any():
            dl = info["detection_limit"]
            assert set(text[is_censored]) == {f"<{dl:g}"}
        assert is_censored.mean() == pytest.approx(info["censored_fraction"])
        well_censored += 0.05 <= is_censored.mean() <= 0.40
        missing = table[column].isna().to_numpy()
        assert 0 < missing.mean() < 0.03, column
        assert missing.mean() == pytest.approx(info["missing_fraction"])
        measured = numeric(table[column])
        assert np.all(measured[~np.isnan(measured)] >= info["detection_limit"])
    assert well_censored >= 4
    duplicated = table.duplicated(["x", "y"], keep="first")
    assert 5 <= duplicated.sum() == truth["n_field_duplicates"] <= 50
    # field duplicates are re-sampled: same place, different values
    keys = table.loc[duplicated, ["x", "y"]].iloc[0]
    pair = table[(table["x"] == keys["x"]) & (table["y"] == keys["y"])]
    assert len(pair) == 2 and pair["Cu_ppm"].nunique(dropna=False) == 2


def test_values_are_rounded_like_a_laboratory(demo):
    w = numeric(demo.table["W_ppm"])
    w = w[~np.isnan(w)]
    digits = np.char.str_len(np.char.replace(np.char.lstrip(
        np.array([f"{v:g}" for v in w]), "0."), ".", ""))
    assert digits.max() <= 3


def test_locations_are_irregular_not_a_lattice(demo):
    xy = demo.table[["x", "y"]].drop_duplicates().to_numpy()
    nearest, _ = cKDTree(xy).query(xy, k=2)
    spacing = nearest[:, 1]
    # clustered along drainage: nearest-neighbour spacing far more variable than a lattice's,
    # and tighter than a Poisson scatter (Clark-Evans ratio < 1)
    assert spacing.std() / spacing.mean() > 0.4
    poisson_mean = 0.5 / np.sqrt(len(xy) / 1e10)
    assert spacing.mean() < 0.9 * poisson_mean
    assert len(np.unique(xy[:, 0] % 1000)) > 500


# ----------------------------------------------------------------------------- geochemistry


def test_backgrounds_are_lognormal_with_realistic_medians(demo):
    realistic = {  # stream-sediment medians, generous ranges
        "W_ppm": (1, 6), "Sn_ppm": (2, 8), "Mo_ppm": (0.4, 2), "Bi_ppm": (0.2, 1),
        "Ag_ppb": (50, 200), "Cu_ppm": (10, 45), "Pb_ppm": (15, 50), "Zn_ppm": (40, 120),
        "As_ppm": (4, 25), "Cr_ppm": (25, 120), "Fe2O3_pct": (2.5, 7), "K2O_pct": (1.5, 3.5),
    }
    # the background: without the second laboratory's biased sheets and the spiked samples
    spiked = {s["sample_id"] for s in demo.truth["traps"]["spikes"]}
    background = demo.table[(demo.table["lab"] == "A") & ~demo.table["sample_id"].isin(spiked)]
    for column, (lo, hi) in realistic.items():
        values = numeric(background[column])
        values = values[~np.isnan(values)]
        assert lo <= np.median(values) <= hi, column
        assert pd.Series(values).skew() > 0.8, column  # right-skewed
        assert abs(pd.Series(np.log(values)).skew()) < 1.2, column  # about log-normal
    oxides = numeric(demo.table["Fe2O3_pct"])
    assert np.nanmax(oxides) < 40


def test_elements_are_correlated_through_shared_factors(demo):
    logs = pd.DataFrame({c: np.log(numeric(demo.table[c])) for c in ("Cr_ppm", "Fe2O3_pct",
                                                                       "K2O_pct", "Cu_ppm")})
    corr = logs.corr()
    assert corr.loc["Cr_ppm", "Fe2O3_pct"] > 0.3  # both ferromagnesian
    assert corr.loc["Cr_ppm", "K2O_pct"] < 0.0  # felsic vs mafic


def test_halos_give_multi_element_anomalies_at_deposits(demo):
    table, deposits = demo.table, demo.deposits
    xy = table[["x", "y"]].to_numpy()
    distance, _ = cKDTree(deposits[["x", "y"]].to_numpy()).query(xy)
    near = distance < 1_000
    far = distance > 15_000
    assert near.sum() >= 10
    for column, factor in zip(PATHFINDERS, (5, 4, 2, 2, 1.5)):
        values = numeric(table[column])
        assert np.nanmean(values[near]) > factor * np.nanmedian(values[far]), column
    # not every deposit is obvious: small ones have faint halos
    w = numeric(table["W_ppm"])
    by_size = {}
    for size in ("small", "large"):
        sites = deposits.loc[deposits["size"] == size, ["x", "y"]].to_numpy()
        d, _ = cKDTree(sites).query(xy)
        by_size[size] = np.nanmedian(w[d < 1_500])
    assert by_size["small"] < 0.5 * by_size["large"]
    assert (deposits["size"] == "small").mean() >= 0.3


def test_granite_domains_raise_the_background(demo):
    table, truth = demo.table, demo.truth
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    inside = np.zeros(len(table), dtype=bool)
    outside = np.ones(len(table), dtype=bool)
    for domain in truth["domains"]:
        r = np.hypot(x - domain["x"], y - domain["y"])
        # outlines stay within 0.7-1.3 x the mean radius
        if domain["kind"] == "granite":
            inside |= r < 0.6 * domain["radius_m"]
        outside &= r > 1.4 * domain["radius_m"] + 1_000
    background = halo_bound(truth, x, y, "W") < 0.1
    assert (inside & background).sum() > 50
    ratios = {}
    for column in ("W_ppm", "Sn_ppm", "K2O_pct", "Cr_ppm"):
        values = numeric(table[column])
        ratios[column] = (np.nanmedian(values[inside & background])
                          / np.nanmedian(values[outside & background]))
    assert ratios["W_ppm"] > 1.8
    assert ratios["Sn_ppm"] > 1.5
    assert ratios["K2O_pct"] > 1.0
    assert ratios["Cr_ppm"] < 0.8


def test_deposits_prefer_granite_contacts(demo):
    deposits, truth = demo.deposits, demo.truth
    granites = [d for d in truth["domains"] if d["kind"] == "granite"]
    at_contact = 0
    for x, y in deposits[["x", "y"]].to_numpy():
        ratio = min(np.hypot(x - g["x"], y - g["y"]) / g["radius_m"] for g in granites)
        at_contact += 0.5 < ratio < 1.6
    assert at_contact / len(deposits) >= 0.5
    assert set(deposits["type"]) == {"W-polymetallic"}
    assert list(deposits.columns) == ["deposit_id", "x", "y", "type", "size", "setting"]


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_same_survey_other_seed_other_survey(demo):
    again = make_survey("demo", seed=0)
    pd.testing.assert_frame_equal(demo.table, again.table)
    pd.testing.assert_frame_equal(demo.deposits, again.deposits)
    assert demo.truth == again.truth
    other = make_survey("demo", seed=1)
    assert not other.table["W_ppm"].equals(demo.table["W_ppm"])
    assert not other.deposits["x"].equals(demo.deposits["x"])


def test_element_subset_has_the_same_values(demo):
    subset = make_survey("demo", elements=["Sn_ppm", "w"], seed=0)
    assert list(subset.table.columns) == ["sample_id", "x", "y", "Sn_ppm", "W_ppm", "lab"]
    for column in ("sample_id", "x", "y", "Sn_ppm", "W_ppm", "lab"):
        pd.testing.assert_series_equal(subset.table[column], demo.table[column])
    pd.testing.assert_frame_equal(subset.deposits, demo.deposits)
    # elements outside the preset's default set are allowed
    extra = make_survey("demo", n_samples=200, elements="Li,Be,MgO", seed=0)
    assert element_columns(extra.table) == ["Li_ppm", "Be_ppm", "MgO_pct"]


# ----------------------------------------------------------------------------- the demo's traps


def _inside(table: pd.DataFrame, domains: list[dict], kind: str, frac: float = 0.6) -> np.ndarray:
    """Samples well inside the ``kind`` domains (within ``frac`` of the mean radius)."""
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    out = np.zeros(len(table), dtype=bool)
    for d in domains:
        if d["kind"] == kind:
            out |= np.hypot(x - d["x"], y - d["y"]) < frac * d["radius_m"]
    return out


def _far_from(table: pd.DataFrame, domains: list[dict], km: float = 15.0) -> np.ndarray:
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    out = np.ones(len(table), dtype=bool)
    for d in domains:
        out &= np.hypot(x - d["x"], y - d["y"]) > d["radius_m"] + km * 1000
    return out


def test_demo_black_shales_raise_mo_and_ag_without_w(demo):
    table, truth = demo.table, demo.truth
    shale = _inside(table, truth["domains"], "shale")
    elsewhere = _far_from(table, truth["domains"], km=2.0) & (table["lab"] == "A").to_numpy()
    assert shale.sum() >= 30
    ratio = {c: np.nanmedian(numeric(table[c])[shale & (table["lab"] == "A").to_numpy()])
             / np.nanmedian(numeric(table[c])[elsewhere]) for c in ("Mo_ppm", "Ag_ppb", "W_ppm")}
    assert ratio["Mo_ppm"] > 3.0 and ratio["Ag_ppb"] > 1.8  # the trap ...
    assert 0.6 < ratio["W_ppm"] < 1.6  # ... with no W in it
    assert truth["traps"]["shale_factors"]["Mo"] == 6.0


def test_demo_second_laboratory_reads_its_sheets_high(demo):
    table, truth = demo.table, demo.truth
    lab = truth["traps"]["laboratories"]
    assert lab["column"] == "lab" and set(table["lab"]) == {"A", "B"}
    b = (table["lab"] == "B").to_numpy()
    sheet = lab["B"]["sheet_m"]
    cols = np.floor((table["x"].to_numpy() - 400_000) / sheet).astype(int)
    rows = np.floor((table["y"].to_numpy() - 2_700_000) / sheet).astype(int)
    in_sheets = np.zeros(len(table), dtype=bool)
    for c, r in lab["B"]["sheets"]:
        in_sheets |= (cols == c) & (rows == r)
    assert np.array_equal(b, in_sheets)  # a laboratory analysed whole map sheets
    # across the sheets' edges the background is continuous: the jump there is the bias
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    edge = np.zeros(len(table), dtype=bool)
    for c, r in lab["B"]["sheets"]:
        x0, y0 = 400_000 + c * sheet, 2_700_000 + r * sheet
        outside_by = np.maximum(np.maximum(x0 - x, x - x0 - sheet), np.maximum(y0 - y, y - y0 - sheet))
        edge |= np.abs(outside_by) < 4_000
    jump = {col: np.nanmedian(numeric(table[col])[edge & b]) / np.nanmedian(numeric(table[col])[edge & ~b])
            for col in ("Ag_ppb", "Cu_ppm")}
    assert 1.5 < jump["Ag_ppb"] < 3.2  # bias 2.2
    assert 0.65 < jump["Cu_ppm"] < 1.5  # Cu: no bias


def test_demo_spikes_are_single_sample_highs(demo):
    from scipy.spatial import cKDTree

    table, spikes = demo.table, demo.truth["traps"]["spikes"]
    assert 10 <= len(spikes) <= 60
    assert all(s["element"] in PRESETS["demo"].elements for s in spikes)
    assert all(demo.truth["elements"][0]["unit"] != "pct" for _ in spikes)
    xy = table[["x", "y"]].to_numpy()
    tree = cKDTree(xy)
    index = {sid: i for i, sid in enumerate(table["sample_id"])}
    higher = 0
    for s in spikes:
        i = index[s["sample_id"]]
        column = synth.ELEMENTS[s["element"]].column
        values = numeric(table[column])
        _, near = tree.query(xy[i], k=9)
        neighbours = values[[j for j in near if j != i]]
        higher += values[i] > 5 * np.nanmedian(neighbours)
    assert higher >= 0.8 * len(spikes)  # a spike stands out of its neighbourhood (a few sit in halos)


@pytest.mark.slow
def test_presets_without_traps_keep_their_world(national_slice):
    assert "lab" not in national_slice.table.columns
    traps = national_slice.truth["traps"]
    assert traps == {"shale_factors": {}, "laboratories": {}, "spikes": []}
    assert {d["kind"] for d in national_slice.truth["domains"]} == {"granite", "mafic"}
