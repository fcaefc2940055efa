"""Tests for geogan.survey.read: formats, column conventions, BDL handling, levelling, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geogan.survey.elements import parse_column_name
from geogan.errors import ConfigError, CRSError, GeoganError, SurveyError
from geogan.survey.read import Survey, read_survey

from conftest import shared_data  # noqa: E402


def write(tmp_path: Path, text: str, name: str = "survey.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def grid_csv(tmp_path: Path, column: str, cells: list[str], *, name="survey.csv", extra="") -> Path:
    """A CSV with one element column, samples on distinct points (x = row index)."""
    header = f"x,y,{column}{',' + extra if extra else ''}"
    lines = [header] + [f"{i},{i * 2},{cell}" for i, cell in enumerate(cells)]
    return write(tmp_path, "\n".join(lines) + "\n", name)


# --------------------------------------------------------------------------------------
# column names and units


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Au_ppb", ("Au", "ppb", "")),
        ("Ag_ppm", ("Ag", "ppm", "")),
        ("Cu_ppm_511", ("Cu", "ppm", "_511")),
        ("K_ppm_511P", ("K", "ppm", "_511P")),
        ("Fe2O3_pct", ("Fe2O3", "pct", "")),
        ("SiO2_wt%", ("SiO2", "pct", "")),
        ("Fe %", ("Fe", "pct", "")),
        ("Au (ppb)", ("Au", "ppb", "")),
        ("S_percent", ("S", "pct", "")),
        ("Ca_PCT", ("Ca", "pct", "")),
        ("AU_PPB", ("Au", "ppb", "")),
        ("W_ppt", ("W", "ppt", "")),
        ("WO3_ppm", ("WO3", "ppm", "")),
        ("Au", ("Au", None, "")),
        ("Zr_511P_T", None),
        ("OBJECTID_x", None),
        ("x_etrstm35fin", None),
    ],
)
def test_parse_column_name(name, expected):
    assert parse_column_name(name) == expected


def test_elements_matched_by_symbol_with_units_from_suffix(tmp_path):
    path = write(
        tmp_path,
        "x,y,Au_ppb,Ag_ppm,W_ppm,WO3_ppm,Fe2O3_pct\n0,0,5,0.1,2,3,4.5\n1,1,6,0.2,3,4,5.5\n",
    )
    survey = read_survey(path, elements=["Au", "Ag", "W", "Fe2O3"])
    assert survey.elements == ["Au", "Ag", "W", "Fe2O3"]
    assert survey.units == {"Au": "ppb", "Ag": "ppm", "W": "ppm", "Fe2O3": "pct"}
    # the oxide column is not the element
    assert survey.columns["W"] == "W_ppm"
    np.testing.assert_array_equal(survey.values[:, 2], [2, 3])


def test_elements_as_comma_string_and_all_by_default(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb,W_ppm,WO3_ppm,sample\n0,0,5,2,3,a\n1,1,6,3,4,b\n")
    assert read_survey(path, elements="Au, W").elements == ["Au", "W"]
    # None: element symbols with a unit; oxides and other columns are not elements
    assert read_survey(path).elements == ["Au", "W"]


def test_oxide_is_not_the_element(tmp_path):
    path = write(tmp_path, "x,y,WO3_ppm,Sn_ppm\n0,0,3,1\n1,1,4,2\n")
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["W"])
    message = str(err.value)
    assert "survey.csv" in message and "'W' not found" in message and "WO3_ppm" in message


def test_units_map_for_bare_columns(tmp_path):
    path = write(tmp_path, "x,y,Au,Cu\n0,0,5,20\n1,1,6,30\n")
    survey = read_survey(path, elements=["Au", "Cu"], units={"Au": "ppb", "Cu": "mg/kg"})
    assert survey.units == {"Au": "ppb", "Cu": "ppm"}
    assert read_survey(path, elements=["Au"], units="Au=ppb").units == {"Au": "ppb"}
    with pytest.raises(SurveyError, match=r"survey.csv: column 'Au': .*no unit.*units="):
        read_survey(path, elements=["Au"])
    with pytest.raises(ConfigError, match="unknown unit 'furlong'"):
        read_survey(path, elements=["Au"], units={"Au": "furlong"})


def test_mixed_units_error_names_both_columns_unless_disambiguated(tmp_path):
    path = write(tmp_path, "x,y,Au_ppm,Au_ppb\n0,0,0.005,5\n1,1,0.006,6\n")
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    message = str(err.value)
    assert "mixed units" in message and "Au_ppm" in message and "Au_ppb" in message
    assert "survey.csv" in message
    # no silent conversion: the user picks one, by unit or by column name
    by_unit = read_survey(path, elements=["Au"], units={"Au": "ppb"})
    assert by_unit.columns == {"Au": "Au_ppb"} and by_unit.units == {"Au": "ppb"}
    by_name = read_survey(path, elements=["Au_ppm"])
    assert by_name.elements == ["Au"] and by_name.columns == {"Au": "Au_ppm"}


def test_several_columns_same_unit_is_an_error(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb_FA,Au_ppb_AR\n0,0,5,4\n1,1,6,5\n")
    with pytest.raises(SurveyError, match=r"several columns for Au.*Au_ppb_FA.*Au_ppb_AR"):
        read_survey(path, elements=["Au"])
    assert read_survey(path, elements=["Au_ppb_FA"]).columns == {"Au": "Au_ppb_FA"}


# --------------------------------------------------------------------------------------
# below detection limit, sentinels, missing


@pytest.mark.parametrize(
    ("cells", "kwargs", "expected", "censored"),
    [
        # text '<DL' -> factor x DL
        (["<0.5", "2", "4"], {}, [0.25, 2, 4], 1 / 3),
        (["< 0.5", "2", "4"], {"bdl_factor": 1.0}, [0.5, 2, 4], 1 / 3),
        # sentinels and empties are missing, not censored
        (["-9999", "2", ""], {}, [math.nan, 2, math.nan], 0.0),
        (["-999", "2", "-1"], {"missing": (-999, -1)}, [math.nan, 2, math.nan], 0.0),
        (["NA", " 3 ", "n/a"], {}, [math.nan, 3, math.nan], 0.0),
        # negative numbers mean 'below |v|' only when asked
        (["-0.5", "2", "-9999"], {"negative_is_bdl": True}, [0.25, 2, math.nan], 0.5),
        # over range keeps the number
        ([">100", "2", "4"], {}, [100, 2, 4], 0.0),
        # '<0' = below an unknown limit: the smallest detected value stands in
        (["<0", "2", "4"], {}, [1.0, 2, 4], 1 / 3),
        # a bare 0 is not a measurement (GSWA: not analysed): missing
        (["0", "2", "4"], {}, [math.nan, 2, 4], 0.0),
    ],
)
def test_bdl_parsing_table(tmp_path, cells, kwargs, expected, censored):
    survey = read_survey(grid_csv(tmp_path, "Au_ppb", cells), elements=["Au"], **kwargs)
    np.testing.assert_allclose(survey.values[:, 0], expected)
    assert survey.censored_fraction["Au"] == pytest.approx(censored)


def test_qualifier_column_marks_censored_values(tmp_path):
    # GTK style: the value next to '<' is the detection limit; 0 = limit unknown; '!' kept
    path = write(
        tmp_path,
        "x,y,Zr_ppm_511,Zr_511P_T,Cu_ppm_511,Cu_511P_T\n"
        "0,0,0.5,<,10,\n"
        "1,1,0.0,<,11,!\n"
        "2,2,3.0,,12,\n"
        "3,3,0.2,!,13,\n"
        "4,4,5.0,,14,\n",
    )
    survey = read_survey(path, elements=["Zr", "Cu"])
    # the unknown limit is the smallest *unflagged* detected value (3.0), not the '!' 0.2
    np.testing.assert_allclose(survey.values[:, 0], [0.25, 1.5, 3.0, 0.2, 5.0])
    np.testing.assert_allclose(survey.values[:, 1], [10, 11, 12, 13, 14])
    assert survey.censored_fraction == {"Zr": pytest.approx(0.4), "Cu": 0.0}
    text = " ".join(survey.warnings)
    assert "Zr_511P_T" in text and "'!'" in text and "smallest detected value 3" in text


def test_qualifier_column_named_like_an_element_is_not_one(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb,Au_ppb_Q\n0,0,1,<\n1,1,4,\n2,2,6,\n")
    survey = read_survey(path, elements=["Au"])
    assert survey.columns == {"Au": "Au_ppb"}
    np.testing.assert_allclose(survey.values[:, 0], [0.5, 4, 6])


def test_negative_without_flag_is_an_error_suggesting_it(tmp_path):
    path = grid_csv(tmp_path, "Au_ppb", ["1", "-0.5", "2"])
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    assert str(err.value).startswith(f"{path}:3: column 'Au_ppb': negative concentration")
    assert "--negative-is-bdl" in str(err.value)


@pytest.mark.parametrize("cell", ["<", "<<1", "<abc", "< ", "<1e999"])
def test_malformed_below_detection_values(tmp_path, cell):
    path = grid_csv(tmp_path, "Au_ppb", ["1", "2", cell])
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    # line 4: header is line 1, third data row
    assert str(err.value).startswith(f"{path}:4: column 'Au_ppb': malformed below-detection value")


@pytest.mark.parametrize("cell", ["abc", "1.2.3", "1,5", "n.d.", "inf"])
def test_non_numeric_text_names_line_and_column(tmp_path, cell):
    path = grid_csv(tmp_path, "Au_ppb", ["1", f'"{cell}"', "2"])
    with pytest.raises(SurveyError) as err:
        read_survey(path, elements=["Au"])
    assert str(err.value).startswith(f"{path}:3: column 'Au_ppb':")
    assert ("infinite" if cell == "inf" else repr(cell)) in str(err.value)


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path):
    path = write(tmp_path, 'x,y,note,Au_ppb\n0,0,"two\nlines",1\n\n1,1,ok,abc\n')
    with pytest.raises(SurveyError, match=r"survey.csv:5: column 'Au_ppb': non-numeric value 'abc'"):
        read_survey(path, elements=["Au"])


# --------------------------------------------------------------------------------------
# bad input: one clear error each


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("", {}, r"survey.csv: survey file is empty"),
        ("x,y,Au_ppb\n", {}, r"survey.csv: survey file has a header but no rows"),
        ("east,north,Au_ppb\n0,0,1\n1,1,2\n", {"x": "E", "y": "N"}, r"survey.csv: column 'E': x column not found; columns are: 'east'"),
        ("a,b,Au_ppb\n0,0,1\n1,1,2\n", {}, r"survey.csv: no coordinate columns found"),
        ("x,y,Au_ppb\n0,0,1\n1,1,2\n", {"elements": ["Ag"]}, r"survey.csv: column 'Ag': element 'Ag' not found"),
        ("x,y,Au_ppb,Ag_ppm\n0,0,1,\n1,1,2,-9999\n", {"elements": ["Au", "Ag"]}, r"survey.csv: column 'Ag_ppm': element has no values"),
        ("x,y,Au_ppb\n0,0,1\n,1,2\n", {}, r"survey.csv:3: column 'x': coordinate is missing"),
        ("x,y,Au_ppb\n0,0,1\n1,abc,2\n", {}, r"survey.csv:3: column 'y': non-numeric value 'abc'"),
        ("x,y,Au_ppb\n5,5,1\n5,5,2\n", {}, r"survey.csv: all 2 samples are at one location"),
        ("x,y,Au_ppb\n0,0,1\n1,1,2\n2,2\n", {}, r"survey.csv:4: line has 2 fields but the header has 3; the file may be truncated"),
        ("x,y,Au_ppb,x\n0,0,1,0\n1,1,2,1\n", {}, r"survey.csv: column 'x': duplicated column name \(columns 1 and 4\)"),
        ("x;y;Au_ppb\n0;0;1\n", {"elements": ["Au"], "x": "x", "y": "q"}, r"column 'q': y column not found"),
    ],
)
def test_bad_input_errors(tmp_path, text, kwargs, pattern):
    path = write(tmp_path, text)
    with pytest.raises(SurveyError, match=pattern) as err:
        read_survey(path, **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("lon,lat,Au_ppb\n24.1,60.1,1\n24.2,95.0,2\n", {}, r"survey.csv:3: column 'lat': coordinate 95.0 is outside the range of EPSG:4326"),
        ("x,y,Au_ppb\n400000,7500000,1\n1e12,7500000,2\n", {"input_crs": "EPSG:3067"}, r"survey.csv:3: column 'x': coordinate 1000000000000.0 is outside the range of EPSG:3067"),
        # degrees given as metres
        ("x,y,Au_ppb\n24.1,60.1,1\n24.2,60.2,2\n", {"input_crs": "EPSG:3067"}, r"survey.csv:2: column 'y': coordinate 60.1 is outside"),
    ],
)
def test_coordinates_out_of_range_for_the_input_crs(tmp_path, text, kwargs, pattern):
    with pytest.raises(CRSError, match=pattern):
        read_survey(write(tmp_path, text), **kwargs)


def test_unknown_extension_missing_file_and_bad_options(tmp_path):
    with pytest.raises(SurveyError, match=r"survey.xlsx: unknown file type '.xlsx'"):
        read_survey(write(tmp_path, "x", name="survey.xlsx"))
    with pytest.raises(SurveyError, match="file not found"):
        read_survey(tmp_path / "nope.csv")
    path = grid_csv(tmp_path, "Au_ppb", ["1", "2"])
    with pytest.raises(ConfigError, match="bdl_factor must be in"):
        read_survey(path, bdl_factor=0)
    with pytest.raises(ConfigError, match="give both x and y"):
        read_survey(path, x="x")
    with pytest.raises(CRSError, match="invalid input CRS 'EPSG:999999'"):
        read_survey(path, input_crs="EPSG:999999")


def test_all_errors_are_geogan_errors(tmp_path):
    path = grid_csv(tmp_path, "Au_ppb", ["1", "x"])
    with pytest.raises(GeoganError):
        read_survey(path)


# --------------------------------------------------------------------------------------
# coordinates and CRS


def test_coordinate_detection_prefers_projected_columns(tmp_path):
    path = write(
        tmp_path,
        "lon,lat,x_etrstm35fin,y_etrstm35fin,Easting_kk,Au_ppb\n"
        "24.7,67.8,404203.1,7526963.2,3404337,1\n24.8,67.9,406827.1,7530497.8,3406962,2\n",
    )
    survey = read_survey(path, input_crs="EPSG:3067")
    assert (survey.x_column, survey.y_column) == ("x_etrstm35fin", "y_etrstm35fin")
    np.testing.assert_allclose(survey.x, [404203.1, 406827.1])
    # lon/lat alone: EPSG:4326 is assumed
    lonlat = write(tmp_path, "Longitude,Latitude,Au_ppb\n24.7,67.8,1\n24.8,67.9,2\n", "ll.csv")
    survey = read_survey(lonlat)
    assert survey.crs.to_epsg() == 4326
    # x/y without a CRS: unknown, and a warning when they look like degrees
    plain = write(tmp_path, "X,Y,Au_ppb\n119.5,-31.6,1\n119.6,-31.7,2\n", "xy.csv")
    survey = read_survey(plain)
    assert survey.crs is None and any("within ±180/±90" in w for w in survey.warnings)


def test_to_crs(tmp_path):
    path = write(tmp_path, "lon,lat,Au_ppb\n24.7236,67.8416,1\n24.7829,67.8741,2\n")
    survey = read_survey(path)
    projected = survey.to_crs("EPSG:3067")
    assert projected.crs.to_epsg() == 3067
    np.testing.assert_allclose(projected.x, [404203.1, 406827.1], atol=20)
    np.testing.assert_allclose(projected.y, [7526963.2, 7530497.8], atol=20)
    assert projected.values is survey.values
    unknown = read_survey(write(tmp_path, "x,y,Au_ppb\n1,1,1\n2,2,2\n", "u.csv"))
    assert unknown.to_crs("EPSG:3067") is unknown  # unknown CRS: taken to be the target
    with pytest.raises(CRSError, match="invalid target CRS"):
        survey.to_crs("not a crs")


# --------------------------------------------------------------------------------------
# duplicates and levelling


def test_duplicate_coordinates_are_averaged_over_present_values(tmp_path):
    path = write(
        tmp_path,
        "x,y,Au_ppb,Cu_ppm\n"
        "0,0,1,10\n"
        "5,5,2,\n"
        "0,0,3,\n"
        "0,0,,40\n"
        "9,9,<2,7\n",
    )
    survey = read_survey(path)
    assert survey.n_rows == 5 and survey.n_merged == 2 and survey.n_samples == 3
    np.testing.assert_array_equal(survey.x, [0, 5, 9])  # order of first appearance
    np.testing.assert_allclose(survey.values, [[2, 25], [2, math.nan], [1, 7]])
    assert "2 rows merged" in survey.summary()
    unmerged = read_survey(path, merge_duplicates=False)
    assert unmerged.n_samples == 5 and unmerged.n_merged == 0


def _batch_survey(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    lines = ["x,y,lab,Cu_ppm,Zn_ppm"]
    for i in range(30):
        lab = "A" if i < 15 else "B"
        cu = rng.lognormal(3, 0.3) * (10 if lab == "B" else 1)
        zn = rng.lognormal(4, 0.3)
        lines.append(f"{i},{i % 7},{lab},{cu:.4f},{zn:.4f}")
    lines += ["100,100,C,500,50", "101,101,C,600,60"]  # a batch too small to level
    return write(tmp_path, "\n".join(lines) + "\n")


def test_levelling_scales_batch_medians_to_the_overall_median(tmp_path):
    path = _batch_survey(tmp_path)
    raw = read_survey(path, merge_duplicates=False)
    levelled = read_survey(path, level_by="lab", merge_duplicates=False)
    record = levelled.levelling
    assert record["column"] == "lab"
    cu = record["elements"]["Cu"]
    overall = float(np.median(raw.values[:, 0]))
    assert cu["overall_median"] == pytest.approx(overall)
    for lab, rows in (("A", slice(0, 15)), ("B", slice(15, 30))):
        assert cu["batches"][lab]["median_before"] == pytest.approx(np.median(raw.values[rows, 0]))
        assert cu["batches"][lab]["median_after"] == pytest.approx(overall)
        assert np.median(levelled.values[rows, 0]) == pytest.approx(overall)
    for lab, rows in (("A", slice(0, 15)), ("B", slice(15, 30))):  # each batch scaled onto the overall median
        assert cu["batches"][lab]["factor"] == pytest.approx(overall / np.median(raw.values[rows, 0]))
    assert cu["batches"]["A"]["factor"] > 1 > cu["batches"]["B"]["factor"]
    # the two-sample batch is left alone and reported
    assert cu["batches"]["C"]["factor"] is None and cu["batches"]["C"]["n"] == 2
    np.testing.assert_allclose(levelled.values[30:, 0], [500, 600])
    assert any("left unscaled" in w and "C" in w for w in levelled.warnings)
    json.dumps(record)  # JSON-able for the store's attrs
    assert "levelling by 'lab'" in levelled.summary()


def test_batch_medians_warning_without_level_by(tmp_path):
    survey = read_survey(_batch_survey(tmp_path))
    [warning] = [w for w in survey.warnings if "batch medians" in w]
    assert "'lab'" in warning and "Cu" in warning and "Zn" not in warning
    assert "level_by='lab'" in warning


def test_level_by_column_must_exist(tmp_path):
    with pytest.raises(SurveyError, match="column 'lab': level_by column not found"):
        read_survey(grid_csv(tmp_path, "Au_ppb", ["1", "2"]), level_by="lab")


# --------------------------------------------------------------------------------------
# formats, delimiters, encodings


def test_semicolon_delimiter_and_decimal_comma(tmp_path):
    path = write(tmp_path, "x;y;Au_ppb;Cu_ppm\n0;0;<0,5;1,5\n1;1;2;2,5\n")
    survey = read_survey(path)
    np.testing.assert_allclose(survey.values, [[0.25, 1.5], [2, 2.5]])
    assert any("decimal comma" in w for w in survey.warnings)


@pytest.mark.parametrize("delimiter", ["\t", "|"])
def test_other_delimiters(tmp_path, delimiter):
    text = "\n".join(delimiter.join(r) for r in [["x", "y", "Au_ppb"], ["0", "0", "1.5"], ["1", "1", "2"]])
    survey = read_survey(write(tmp_path, text + "\n"))
    np.testing.assert_allclose(survey.values[:, 0], [1.5, 2])


def test_latin1_and_bom_encodings(tmp_path):
    latin = write(tmp_path, "x,y,Näyte,Au_ppb\n0,0,Jyväskylä,1\n1,1,Äänekoski,2\n", encoding="latin-1")
    survey = read_survey(latin)
    assert any("Latin-1" in w for w in survey.warnings)
    np.testing.assert_allclose(survey.values[:, 0], [1, 2])
    bom = write(tmp_path, "x,y,Au_ppb\n0,0,1\n1,1,2\n", name="bom.csv", encoding="utf-8-sig")
    assert read_survey(bom).x_column == "x"


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "survey.parquet"
    table = pa.table(
        {
            "easting": [400000.0, 400500.0, 401000.0],
            "northing": [7500000.0, 7500000.0, 7500500.0],
            "Au_ppb": pa.array(["<1", "3", None]),
            "Cu_ppm": [10.0, -9999.0, 12.0],
            "W_ppm": pa.array([1, 2, 3], pa.int32()),
        }
    )
    pq.write_table(table, path)
    survey = read_survey(path, input_crs="EPSG:3067")
    assert survey.elements == ["Au", "Cu", "W"]
    np.testing.assert_allclose(survey.values, [[0.5, 10, 1], [3, math.nan, 2], [math.nan, 12, 3]])
    assert survey.crs.to_epsg() == 3067
    # Parquet rows are 1-based data rows
    pq.write_table(table.set_column(2, "Au_ppb", pa.array(["1", "bad", None])), path)
    with pytest.raises(SurveyError, match=r"survey.parquet:2: column 'Au_ppb': non-numeric value 'bad'"):
        read_survey(path)


def test_geopackage_round_trip(tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    path = tmp_path / "survey.gpkg"
    points = shapely.points(np.array([[404203.1, 7526963.2], [406827.1, 7530497.8], [406536.2, 7536878.2]]))
    pyogrio.raw.write(
        path,
        geometry=shapely.to_wkb(points),
        field_data=[np.array([27600.0, 14100.0, 9000.0]), np.array(["<0.5", "1.2", "0.9"], dtype=object)],
        fields=["Al_ppm_511", "Th_ppm_511"],
        crs="EPSG:3067",
        geometry_type="Point",
        driver="GPKG",
    )
    survey = read_survey(path)
    assert survey.crs.to_epsg() == 3067
    assert survey.x_column == "<geometry>"
    np.testing.assert_allclose(survey.x, [404203.1, 406827.1, 406536.2])
    np.testing.assert_allclose(survey.values[:, 1], [0.25, 1.2, 0.9])
    assert survey.censored_fraction["Th"] == pytest.approx(1 / 3)
    assert len(survey.source_sha256) == 64


def test_summary_and_repr(tmp_path):
    survey = read_survey(grid_csv(tmp_path, "Au_ppb", ["<1", "2", "", "4"]))
    text = survey.summary()
    assert "rows read: 4" in text and "Au" in text and "ppb" in text
    assert "censored  33.3%" in text and "missing  25.0%" in text  # 1 of 3 present; 1 of 4 rows
    assert isinstance(survey, Survey) and "n_samples=4" in repr(survey)


# --------------------------------------------------------------------------------------
# real surveys (../shared/data)


@pytest.mark.realdata
def test_real_gtk_lapland_till_qualifier_columns():
    path = shared_data("gtk-lapland-till", "till_samples.csv")
    survey = read_survey(path, input_crs="EPSG:3067")
    assert (survey.x_column, survey.y_column) == ("x_etrstm35fin", "y_etrstm35fin")
    assert survey.n_rows == 1112 and len(survey.elements) == 22
    assert set(survey.units.values()) == {"ppm"}
    # the elements whose qualifier columns hold '<' have censored values, the rest none
    for element in ("Co", "K", "Th", "Zr"):
        assert survey.censored_fraction[element] > 0
    # Zr: 166 '<' flags with value 0 (limit unknown); 16 bare zeros flagged '!' are missing
    assert survey.censored_fraction["Zr"] == pytest.approx(166 / 1096)
    assert survey.missing_fraction["Zr"] == pytest.approx(16 / 1112)
    assert survey.censored_fraction["Al"] == 0
    present = survey.values[np.isfinite(survey.values)]
    assert (present > 0).all()
    assert 346_000 < survey.x.min() < survey.x.max() < 414_000


@pytest.mark.realdata
def test_real_gswa_soil1_sentinels_negative_dl_and_levelling():
    path = shared_data("gswa-soil1", "area6_soil_au.csv")
    survey = read_survey(
        path, input_crs="EPSG:4283", negative_is_bdl=True, missing=(-9999,), level_by="WAMEX_A_NO"
    )
    # soil1 carries values for only a few of its 123 element columns
    assert survey.elements == ["Ag", "Au", "Co", "Cu", "Ni", "Pb", "Pd", "Zn"]
    assert survey.units["Pd"] == "ppb"
    # two reports repeat the same samples at the same places
    assert survey.n_rows == 2734 and survey.n_merged == 1469
    au = survey.levelling["elements"]["Au"]["batches"]
    assert au["102294"]["factor"] is None and au["102294"]["n"] == 2
    assert au["82539"]["factor"] == pytest.approx(1.0)
    json.dumps(survey.levelling)
    # no '<' and no negatives in soil1; its zeros (Cu, Pb, Pd: whole suites in the same
    # rows) are 'not analysed' and read as missing
    assert set(survey.censored_fraction.values()) == {0.0}
    assert survey.missing_fraction["Cu"] > 0.3
    assert (survey.values[np.isfinite(survey.values)] > 0).all()
    projected = survey.to_crs("EPSG:28350")
    assert 700_000 < projected.x.mean() < 800_000


def test_default_elements_take_an_oxide_only_when_its_metal_has_no_column(tmp_path):
    from geogan.survey.read import read_survey as _read

    path = tmp_path / "ox.csv"
    path.write_text("x,y,Fe_ppm,Fe2O3_pct,K2O_pct,SiO2_pct,W_ppm\n0,0,1,2,3,4,5\n10,0,2,3,4,5,6\n")
    s = _read(path)
    assert s.elements == ["Fe", "K2O", "SiO2", "W"]
    assert s.units["K2O"] == "pct"


def test_missing_sentinel_is_not_applied_to_projected_coordinates(tmp_path):
    from geogan.survey.read import read_survey as _read

    path = tmp_path / "albers.csv"
    path.write_text("x,y,W_ppm\n-9999,5000,1\n10000,-9999,-9999\n20000,0,3\n")
    s = _read(path, input_crs="ESRI:102025")
    assert s.x.tolist() == [-9999.0, 10000.0, 20000.0]
    assert np.isnan(s.values[1, 0]) and s.values[2, 0] == 3.0
