"""Tests of the synthetic survey generator (geogan.synth)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyproj
import pytest
from scipy.spatial import cKDTree

from geogan import synth
from geogan.errors import ConfigError, OutputExistsError
from geogan.synth import NATIONAL_ELEMENTS, PRESETS, make_survey, write_synthetic_survey, writer

RGNR_39 = (
    "Ag As Au B Ba Be Bi Cd Co Cr Cu F Hg La Li Mn Mo Nb Ni P Pb Sb Sn Sr Th Ti U V W Y Zn Zr "
    "SiO2 Al2O3 Fe2O3 K2O Na2O CaO MgO"
).split()
PATHFINDERS = ("W_ppm", "Sn_ppm", "Mo_ppm", "Bi_ppm", "Ag_ppb")


@pytest.fixture(scope="module")
def demo():
    return make_survey("demo", seed=0)


@pytest.fixture(scope="module")
def national_slice():
    # the national preset's world (39 elements, 3,100 km, 3,300 halos) with few samples
    return make_survey("national", n_samples=20_000, seed=3)


def numeric(column: pd.Series) -> np.ndarray:
    """Measured values; censored (``<DL``) and missing cells as NaN."""
    text = column.astype("str")
    values = pd.to_numeric(text.where(~text.str.startswith("<")), errors="coerce")
    return values.to_numpy(dtype=float)


def element_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ("sample_id", "x", "y", "lab")]


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


# ----------------------------------------------------------------------------- presets


def test_national_preset_is_rgnr_sized():
    national = PRESETS["national"]
    assert national.n_samples == 1_500_000
    assert list(national.elements) == RGNR_39 == list(NATIONAL_ELEMENTS)
    xmin, ymin, xmax, ymax = national.extent_m
    assert xmax - xmin == pytest.approx(3_100_000) and ymax - ymin == pytest.approx(3_100_000)
    assert 37e6 < national.grid_cells(500.0) < 39e6
    assert 2_000 <= national.n_deposits <= 5_000
    assert national.fmt == "parquet"
    assert pyproj.CRS.from_user_input(national.crs).is_projected


def test_demo_preset_is_a_district():
    demo = PRESETS["demo"]
    assert demo.n_samples == 5_000
    assert demo.crs == "EPSG:32650"
    assert demo.extent_m == (400_000.0, 2_700_000.0, 500_000.0, 2_800_000.0)
    assert 10 <= len(demo.elements) <= 16
    assert set(demo.elements) >= {"W", "Sn", "Mo", "Bi", "Ag"}
    assert any(synth.ELEMENTS[s].unit == "pct" for s in demo.elements)
    assert 15 <= demo.n_deposits <= 25
    assert demo.fmt == "csv"


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


def test_truth_describes_the_world(demo):
    truth = demo.truth
    assert truth["preset"] == "demo" and truth["seed"] == 0 and truth["crs"] == "EPSG:32650"
    kinds = {d["kind"] for d in truth["domains"]}
    assert kinds == {"granite", "mafic", "shale"}
    known = [h for h in truth["halos"] if h["known"]]
    hidden = [h for h in truth["halos"] if not h["known"]]
    assert len(known) == len(demo.deposits) and len(hidden) == PRESETS["demo"].n_hidden_deposits
    assert [h["deposit_id"] for h in known] == list(demo.deposits["deposit_id"])
    assert all(h["amplitudes"]["W"] > 0 for h in truth["halos"])
    json.dumps(truth)  # serialisable as is


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


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_files_are_byte_identical_for_a_seed(tmp_path, fmt):
    first = write_synthetic_survey(tmp_path / "a", "demo", n_samples=1_500, seed=7, fmt=fmt)
    write_synthetic_survey(tmp_path / "b", "demo", n_samples=1_500, seed=7, fmt=fmt)
    assert first.survey.name == f"survey.{fmt}"
    for name in (f"survey.{fmt}", "deposits.csv", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.crs == "EPSG:32650"
    assert "EPSG:32650" in first.describe()


def test_written_tables_match_the_in_memory_survey(tmp_path):
    expected = make_survey("demo", n_samples=1_500, seed=7)
    out = write_synthetic_survey(tmp_path / "csv", "demo", n_samples=1_500, seed=7)
    pq_out = write_synthetic_survey(tmp_path / "pq", "demo", n_samples=1_500, seed=7,
                                    fmt="parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(pq_out.survey), expected.table)
    from_csv = pd.read_csv(out.survey, dtype={c: "str" for c in element_columns(expected.table)
                                              if c != "Fe2O3_pct" and c != "K2O_pct"})
    pd.testing.assert_frame_equal(from_csv, expected.table, check_dtype=False)
    header = out.survey.read_text().splitlines()[0]
    assert header.startswith("sample_id,x,y,W_ppm,") and '"' not in header
    text = out.survey.read_text()
    assert ",<0.5," in text or ",<0.5\n" in text
    assert ",," in text  # empty cells are missing values
    deposits = pd.read_csv(out.deposits)
    pd.testing.assert_frame_equal(deposits, expected.deposits, check_dtype=False)
    assert json.loads(out.truth.read_text()) == expected.truth


# ----------------------------------------------------------------------------- output safety


def test_refuses_a_non_empty_output_unless_overwrite(tmp_path):
    out = tmp_path / "survey"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match="overwrite") as info:
        write_synthetic_survey(out, n_samples=100)
    assert str(out) in str(info.value)
    assert (out / "keep.txt").read_text() == "precious"
    # issue 24: --overwrite replaces a synthetic survey, never a file the user keeps in its folder
    (out / "photos").mkdir()
    with pytest.raises(OutputExistsError, match="exists and geogan did not write it"):
        write_synthetic_survey(out, n_samples=100, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious" and (out / "photos").is_dir()
    (out / "keep.txt").unlink()
    (out / "photos").rmdir()
    result = write_synthetic_survey(out, n_samples=100)  # an emptied folder is fine
    result = write_synthetic_survey(out, n_samples=100, overwrite=True)  # and geogan's own survey is replaced
    assert sorted(p.name for p in out.iterdir()) == [".geogan", "deposits.csv", "survey.csv", "truth.json"]
    (out / "keep.txt").write_text("precious")  # the user's file inside geogan's survey folder: kept
    with pytest.raises(OutputExistsError, match="holds keep.txt, which geogan did not write"):
        write_synthetic_survey(out, n_samples=100, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious"
    assert result.n_samples == 100
    empty = tmp_path / "empty"
    empty.mkdir()
    write_synthetic_survey(empty, n_samples=100)  # an empty directory is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "survey"]


def test_overwriting_a_symlink_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    link = tmp_path / "survey"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_synthetic_survey(link, n_samples=100)
    # issue 24: a link is judged by what it points to: the user's folder is not replaced
    with pytest.raises(OutputExistsError, match="geogan did not write it"):
        write_synthetic_survey(link, n_samples=100, overwrite=True)
    (target / "keep.txt").unlink()  # an empty folder: the link is replaced, never what it points to
    write_synthetic_survey(link, n_samples=100, overwrite=True)
    assert not link.is_symlink() and (link / "truth.json").is_file()
    assert [p.name for p in target.iterdir()] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "survey"]


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic_survey(tmp_path / "out", n_samples=100)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "regional"}, "unknown synthetic preset 'regional'"),
        ({"elements": ["W", "Xx"]}, "unknown element 'Xx'"),
        ({"elements": []}, "no elements selected"),
        ({"n_samples": 0}, "n_samples must be from 1 to 100,000,000"),
        ({"seed": -1}, "seed must be an integer from 0 to 2,147,483,647"),
        ({"n_samples": 2_000_000}, "use write_synthetic_survey"),
    ],
)
def test_bad_options_raise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_survey(**kwargs)


def test_bad_format_is_refused_before_writing(tmp_path):
    with pytest.raises(ConfigError, match="unknown survey format 'xlsx'"):
        write_synthetic_survey(tmp_path / "out", n_samples=100, fmt="xlsx")
    assert not (tmp_path / "out").exists()


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


def test_presets_without_traps_keep_their_world(national_slice):
    assert "lab" not in national_slice.table.columns
    traps = national_slice.truth["traps"]
    assert traps == {"shale_factors": {}, "laboratories": {}, "spikes": []}
    assert {d["kind"] for d in national_slice.truth["domains"]} == {"granite", "mafic"}
