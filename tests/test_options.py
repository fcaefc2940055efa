"""Tests for geogan.options: the stages' typed options (frozen dataclasses, validated once, the one
source of defaults) and the routing of a stage's keyword shortcuts to them."""

import dataclasses

import pytest

from geogan.errors import ConfigError, GridError
from geogan.options import (DepositOptions, EvalOptions, GridOptions, ScoreOptions, SurveyOptions, TrainOptions,
                            split_options)


def test_the_defaults_are_the_documented_ones():
    assert EvalOptions() == EvalOptions(min_dist_km=5.0, runs=20, seed=0)
    assert (ScoreOptions().batch_size, ScoreOptions().contributions, ScoreOptions().min_elements) == (16384, False, None)
    train = TrainOptions()
    assert (train.detector, train.transform, train.sample, train.test_fraction, train.seed) == ("alad", "log", 200_000,
                                                                                                0.3, 0)
    assert train.steps is None and train.ensemble is None and train.target_weight == 0.5
    survey = SurveyOptions()
    assert (survey.bdl_factor, survey.negative_is_bdl, survey.missing) == (0.5, False, (-9999.0,))
    assert GridOptions().crs is None and GridOptions().bounds is None
    assert DepositOptions().to_dict() == {"x": None, "y": None, "input_crs": None, "deposit_type": None,
                                          "deposit_type_column": None}


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: EvalOptions(runs=0), ConfigError, "runs must be ≥ 1, got 0"),
    (lambda: EvalOptions(runs=2.5), ConfigError, "runs must be an integer, got 2.5"),
    (lambda: EvalOptions(runs=True), ConfigError, "runs must be an integer, got True"),
    (lambda: EvalOptions(min_dist_km=float("nan")), ConfigError, "min_dist_km must be a finite number, got nan"),
    (lambda: SurveyOptions(bdl_factor=0), ConfigError, "bdl_factor must be > 0, got 0"),
    (lambda: SurveyOptions(bdl_factor=2), ConfigError, "bdl_factor must be ≤ 1, got 2"),
    (lambda: SurveyOptions(missing="x"), ConfigError, "missing must be a list of numbers, got 'x'"),
    (lambda: TrainOptions(test_fraction=1.5), ConfigError, "test_fraction must be ≤ 1, got 1.5"),
    (lambda: TrainOptions(seed=-1), ConfigError, "seed must be ≥ 0, got -1"),
    (lambda: ScoreOptions(contributions="yes"), ConfigError, "contributions must be true or false, got 'yes'"),
    (lambda: GridOptions(tile=0), GridError, "tile must be ≥ 1, got 0"),
    (lambda: GridOptions(cell_size_m=0), GridError, "cell_size_m must be > 0, got 0"),
    (lambda: GridOptions(bounds=[0, 1, 2]), GridError, r"bounds must be four numbers \[xmin, ymin, xmax, ymax\], got"),
    (lambda: DepositOptions(x=""), ConfigError, "x must be a non-empty string, got ''"),
    (lambda: DepositOptions(y=7), ConfigError, "y must be a non-empty string, got 7"),
    (lambda: DepositOptions(input_crs=4326.0), ConfigError,
     r'input_crs must be a CRS string like "EPSG:32650", got 4326.0'),
    (lambda: DepositOptions(deposit_type=["W"]), ConfigError, r"deposit_type must be a non-empty string, got \['W'\]"),
    (lambda: DepositOptions(deposit_type_column="type"), ConfigError,
     "deposit_type_column names the column that deposit_type selects by; give deposit_type too"),
], ids=["runs-low", "runs-float", "runs-bool", "dist-nan", "bdl-zero", "bdl-high", "missing-text", "fraction-high",
        "seed-negative", "flag-text", "tile-zero", "cell-zero", "bounds-three", "deposit-x-empty", "deposit-y-number",
        "deposit-crs-float", "deposit-type-list", "type-column-alone"])
def test_every_field_is_checked_and_the_error_names_it_and_its_value(make, error, message):
    with pytest.raises(error, match=message) as err:
        make()
    assert "\n" not in str(err.value)


def test_the_edges_of_a_range_are_where_the_documentation_puts_them():
    assert SurveyOptions(bdl_factor=1).bdl_factor == 1.0  # (0, 1]
    assert TrainOptions(target_weight=0).target_weight == 0 and TrainOptions(target_weight=1).target_weight == 1
    assert EvalOptions(min_dist_km=0).min_dist_km == 0
    assert GridOptions(max_cells=None).max_cells is None  # nullable: no limit


def test_values_from_toml_are_converted_and_options_are_frozen():
    assert GridOptions(bounds=[0, 0, 1000, 1000]).bounds == (0.0, 0.0, 1000.0, 1000.0)
    assert SurveyOptions(missing=[-9999, -1]).missing == (-9999.0, -1.0)
    opts = EvalOptions(runs=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.runs = 4
    assert EvalOptions(**opts.to_dict()) == opts and opts.to_dict() == {"min_dist_km": 5.0, "runs": 3, "seed": 0}


def test_pick_takes_its_own_fields_out_of_the_values():
    assert EvalOptions.keys() == ("min_dist_km", "runs", "seed")
    values = {"runs": 5, "batch_size": 64}
    assert EvalOptions.pick(values) == EvalOptions(runs=5)
    assert values == {"batch_size": 64}  # what remains belongs to another class
    base = EvalOptions(seed=7)
    assert EvalOptions.pick({"runs": 2}, base) == EvalOptions(runs=2, seed=7)
    assert EvalOptions.pick({}, base) is base
    with pytest.raises(TypeError, match="expected a EvalOptions, got ScoreOptions"):
        EvalOptions.pick({}, ScoreOptions())


def test_split_options_routes_shortcuts_and_refuses_a_misspelt_one():
    score, evaluation = split_options("score_grid", {"batch_size": 64, "runs": 3, "seed": 1},
                                      (ScoreOptions, None), (EvalOptions, EvalOptions(min_dist_km=2.0)))
    assert score == ScoreOptions(batch_size=64)
    assert evaluation == EvalOptions(min_dist_km=2.0, runs=3, seed=1)
    with pytest.raises(TypeError, match=r"score_grid\(\) got an unexpected keyword argument 'rnus'"):
        split_options("score_grid", {"rnus": 3}, (ScoreOptions, None), (EvalOptions, None))


def test_deposit_options_keep_what_is_given_and_go_by_their_keywords_beside_other_options():
    import pyproj

    how = DepositOptions(x="E", y="N", input_crs=3067, deposit_type="W-Sn", deposit_type_column="kind")
    assert (how.x, how.y, how.input_crs, how.deposit_type, how.deposit_type_column) == ("E", "N", 3067, "W-Sn", "kind")
    assert DepositOptions(input_crs=pyproj.CRS("EPSG:4326")).input_crs.to_epsg() == 4326
    assert sorted(DepositOptions.keywords.values()) == sorted(DepositOptions.keys())  # every field has a keyword
    evaluation, deposits = split_options(
        "evaluate", {"runs": 3, "deposits_crs": "EPSG:4326", "deposits_x": "lon", "deposit_type": "Au"},
        (EvalOptions, None), (DepositOptions, DepositOptions(y="lat"), DepositOptions.keywords))
    assert evaluation == EvalOptions(runs=3)
    assert deposits == DepositOptions(x="lon", y="lat", input_crs="EPSG:4326", deposit_type="Au")
    with pytest.raises(TypeError, match=r"evaluate\(\) got an unexpected keyword argument 'x'"):  # the field's own name
        split_options("evaluate", {"x": "lon"}, (EvalOptions, None), (DepositOptions, None, DepositOptions.keywords))
