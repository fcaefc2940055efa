"""Tests for geogan.survey.concentrations: the chosen element columns of a survey table censored
into one matrix (column per element), empty elements dropped or refused, censored and missing
fractions, the notes left for the caller. Parsing one cell: tests/survey/test_censoring.py."""

from __future__ import annotations

import numpy as np
import pytest

from geogan.errors import SurveyError
from geogan.survey.censoring import ElementOptions
from geogan.survey.concentrations import concentration_matrix
from geogan.survey.tables import TableRole, open_table
from tests.helpers.survey import write

ROLE = TableRole("survey", "sample", SurveyError)


def matrix(path, chosen, *, elements=None, qualifiers=None, **options):
    """:func:`concentration_matrix` of the columns ``chosen`` (symbol -> (column, unit)) of the
    table at ``path``; returns its four results and the notes."""
    opts = ElementOptions.build(elements=elements, units={}, bdl_factor=options.get("bdl_factor", 0.5),
                                negative_is_bdl=False, missing=-9999)
    qualifiers = qualifiers or {}
    notes: list[str] = []
    with open_table(path, role=ROLE) as table:
        arrays = table.columns([c for c, _ in chosen.values()] + list(qualifiers.values()))
        out = concentration_matrix(table, opts, chosen, qualifiers, arrays, n_rows=table.require_rows(),
                                   warnings=notes)
    return (*out, notes)


def test_one_column_per_element_censored_in_the_order_chosen(tmp_path):
    path = write(tmp_path, "x,y,Cu_ppm,Au_ppb,W_ppm\n"
                           "0,0,12,<0.5,3\n"
                           "1,1,,2,4\n"
                           "2,2,14,-9999,<2\n"
                           "3,3,15,8,6\n")
    chosen = {"W": ("W_ppm", "ppm"), "Au": ("Au_ppb", "ppb"), "Cu": ("Cu_ppm", "ppm")}
    values, symbols, censored, missing, notes = matrix(path, chosen)
    assert symbols == ["W", "Au", "Cu"] and values.dtype == np.float64 and values.shape == (4, 3)
    np.testing.assert_array_equal(values, [[3, 0.25, 12], [4, 2, np.nan], [1, np.nan, 14], [6, 8, 15]])
    assert censored == {"W": 0.25, "Au": pytest.approx(1 / 3), "Cu": 0.0}  # of the values present
    assert missing == {"W": 0.0, "Au": 0.25, "Cu": 0.25}  # of all rows
    assert notes == []


def test_an_element_without_values_is_dropped_when_detected(tmp_path):
    path = write(tmp_path, "x,y,Cu_ppm,Ag_ppm,Au_ppb,Bi_ppm\n0,0,1,,2,\n1,1,2,-9999,3,\n")
    chosen = {"Cu": ("Cu_ppm", "ppm"), "Ag": ("Ag_ppm", "ppm"), "Au": ("Au_ppb", "ppb"), "Bi": ("Bi_ppm", "ppm")}
    values, symbols, censored, missing, notes = matrix(path, chosen)
    assert symbols == ["Cu", "Au"] and values.shape == (2, 2)
    np.testing.assert_array_equal(values, [[1, 2], [2, 3]])
    assert set(censored) == set(missing) == {"Cu", "Au"}
    assert notes == ["2 element column(s) without any value left out: Ag_ppm, Bi_ppm"]


def test_an_element_without_values_is_refused_when_asked_for(tmp_path):
    path = write(tmp_path, "x,y,Cu_ppm,Ag_ppm\n0,0,1,\n1,1,2,-9999\n")
    with pytest.raises(SurveyError, match=r"survey.csv: column 'Ag_ppm': element has no values \(every cell empty "
                                          r"or a missing sentinel\); leave it out of elements") as err:
        matrix(path, {"Cu": ("Cu_ppm", "ppm"), "Ag": ("Ag_ppm", "ppm")}, elements=["Cu", "Ag"])
    assert err.value.column == "Ag_ppm" and err.value.path.endswith("survey.csv") and err.value.row is None


def test_a_table_without_any_value_is_refused(tmp_path):
    path = write(tmp_path, "x,y,Cu_ppm,Ag_ppm\n0,0,,\n1,1,-9999,\n")
    with pytest.raises(SurveyError, match=r"survey.csv: no element column has any value; check the file or name "
                                          r"elements explicitly"):
        matrix(path, {"Cu": ("Cu_ppm", "ppm"), "Ag": ("Ag_ppm", "ppm")})


def test_an_element_below_detection_everywhere_is_kept_with_a_note(tmp_path):
    path = write(tmp_path, "x,y,Au_ppb,Cu_ppm\n0,0,<1,5\n1,1,<2,6\n2,2,,7\n")
    values, symbols, censored, missing, notes = matrix(path, {"Au": ("Au_ppb", "ppb"), "Cu": ("Cu_ppm", "ppm")},
                                                       bdl_factor=1.0)
    assert symbols == ["Au", "Cu"] and censored["Au"] == 1.0 and missing["Au"] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(values[:, 0], [1, 2, np.nan])
    assert notes == ["Au (Au_ppb): every value is below detection, so it cannot tell samples apart; consider "
                     "leaving it out (--elements)"]


def test_the_qualifier_columns_and_the_tables_decimal_comma_are_applied(tmp_path):
    path = write(tmp_path, "x;y;Zr_ppm;Zr_flag;Cu_ppm\n"
                           "0;0;0,5;<;1,5\n"
                           "1;1;3,0;;2,25\n"
                           "2;2;4,0;;3\n")
    values, symbols, censored, _, _ = matrix(path, {"Zr": ("Zr_ppm", "ppm"), "Cu": ("Cu_ppm", "ppm")},
                                             qualifiers={"Zr": "Zr_flag"})
    np.testing.assert_array_equal(values, [[0.25, 1.5], [3.0, 2.25], [4.0, 3.0]])  # '<' next to 0,5: half of it
    assert censored == {"Zr": pytest.approx(1 / 3), "Cu": 0.0}


def test_a_cell_that_is_not_a_number_names_its_line_and_column(tmp_path):
    path = write(tmp_path, "x,y,Cu_ppm\n0,0,1\n1,1,abc\n")
    with pytest.raises(SurveyError, match=r"survey.csv:3: column 'Cu_ppm': non-numeric value 'abc'"):
        matrix(path, {"Cu": ("Cu_ppm", "ppm")})
