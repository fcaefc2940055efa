"""Tests for geogan.evaluation.figures: the report's PNGs (class map, ROC, P-A and success-rate
plots): the files are valid images of the expected size, and the figures plot the results' own
curves and numbers (the report directory that holds them: test_report.py)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from matplotlib.image import imread

from geogan.evaluation.deposits import Deposits
from geogan.evaluation.figures import plot_map, plot_pa, plot_roc, plot_success
from geogan.evaluation.gis import class_labels
from geogan.evaluation.single import evaluate_scores
from tests.helpers.scores import CRS, X0, Y0, cell_xy, make_scores

DPI = 110


def _png_size(path) -> tuple[int, int]:
    """``(width, height)`` from a PNG's header, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def _assert_image(path, size_inches) -> np.ndarray:
    """The PNG at ``path``: ``size_inches`` at the report's DPI, and not blank."""
    expected = (round(size_inches[0] * DPI), round(size_inches[1] * DPI))
    assert _png_size(path) == expected
    pixels = imread(path)
    assert pixels.shape[:2] == expected[::-1]
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10  # more than a blank page
    return pixels


@pytest.fixture(scope="module")
def evaluated():
    """Two detectors on one 40 × 50 grid (alad: the deposit cells hot), the deposits (the last
    on no-data, one outside), their grids and a geographic-grid result (no area metrics)."""
    rng = np.random.default_rng(4)
    base = rng.random((40, 50)).astype("float32")
    base[:3, :] = np.nan
    hot = base.copy()
    hot[[10, 20, 30, 35], [10, 25, 40, 5]] += 1.0
    x, y = cell_xy(np.array([10, 20, 30, 35, 1]), np.array([10, 25, 40, 5, 7]))
    deposits = Deposits.from_xy(np.r_[x, X0 - 500.0], np.r_[y, Y0], crs=CRS)
    grids = {"alad": make_scores(hot), "vae": make_scores(base)}
    results = {n: evaluate_scores(g, deposits, name=n, runs=2, min_dist_km=0.5) for n, g in grids.items()}
    geo_grid = make_scores(np.arange(30.0).reshape(5, 6), crs="EPSG:4326", cell=0.01, x0=115.0, y0=26.0)
    geo = evaluate_scores(geo_grid, Deposits.from_xy([115.055], [25.955], crs="EPSG:4326"), runs=1,
                          min_dist_km=1.0, name="geo")
    return grids, deposits, results, geo


def test_roc_plots_each_detectors_curve_over_the_chance_line(tmp_path, evaluated):
    _, _, results, _ = evaluated
    fig = plot_roc(tmp_path / "roc.png", results)
    _assert_image(tmp_path / "roc.png", (5.4, 5.0))
    (ax,) = fig.axes
    chance, *lines = ax.get_lines()
    assert chance.get_xdata().tolist() == [0, 1] and chance.get_label() == "chance (0.5)"
    for line, r in zip(lines, results.values(), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), r.roc_fpr)
        np.testing.assert_array_equal(line.get_ydata(), r.roc_tpr)
        assert line.get_label() == f"{r.name} (AUC {r.metrics['roc_auc']:.3f})"
    assert lines[0].get_label() == "alad (AUC 1.000)"
    assert ax.get_xlabel().startswith("False-positive rate") and ax.get_ylabel().startswith("True-positive rate")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [ln.get_label() for ln in [chance, *lines]]


def test_pa_plots_a_panel_per_detector_with_its_intersection(tmp_path, evaluated):
    _, _, results, geo = evaluated
    fig = plot_pa(tmp_path / "pa.png", {**results, "geo": geo}, note=None)  # geo: no P-A curves, no panel
    _assert_image(tmp_path / "pa.png", (5.6 * 2, 4.6))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["P-A plot: alad", "P-A plot: vae"]
    twins = [ax for ax in fig.axes if not ax.get_title()]
    for ax, twin, r in zip(panels, twins, results.values(), strict=True):
        m = r.metrics
        pr, marker, vline = ax.get_lines()
        np.testing.assert_array_equal(pr.get_xdata(), r.pa_threshold)
        np.testing.assert_array_equal(pr.get_ydata(), r.pa_prediction_rate)
        (oa,) = twin.get_lines()
        np.testing.assert_array_equal(oa.get_ydata(), r.pa_area_pct)
        assert twin.get_ylim() == (100, 0) and ax.get_ylim() == (0, 100)  # the area axis inverted
        assert marker.get_xydata().tolist() == [[m["pa_intersection_threshold"], m["pa_intersection_prediction_rate_pct"]]]
        assert list(vline.get_xdata()) == [m["pa_intersection_threshold"]] * 2  # the threshold marked
        assert ax.get_xlabel() == f"threshold on the {r.name} score (unknown)"
        (label,) = twin.texts
        assert label.get_text() == (f"Pr = {m['pa_intersection_prediction_rate_pct']:.1f} %, "
                                    f"Oa = {m['pa_intersection_area_pct']:.1f} %\nNd = {m['pa_nd']:.2f}")


def test_pa_without_area_metrics_shows_why(tmp_path, evaluated):
    *_, geo = evaluated
    fig = plot_pa(tmp_path / "pa.png", {"geo": geo}, note=geo.metrics["area_metrics"])
    _png_size(tmp_path / "pa.png")
    (ax,) = fig.axes
    assert not ax.axison and ax.get_lines() == []
    assert [t.get_text() for t in ax.texts] == [geo.metrics["area_metrics"]]
    fig = plot_pa(tmp_path / "pa2.png", {"geo": geo}, note=None)
    assert [t.get_text() for t in fig.axes[0].texts] == ["area metrics not computed"]


def test_success_rate_plots_the_exact_curve_on_a_log_area_axis(tmp_path, evaluated):
    _, _, results, geo = evaluated
    fig = plot_success(tmp_path / "success.png", {**results, "geo": geo}, note=None)
    _assert_image(tmp_path / "success.png", (6.4, 5.6))
    (ax,) = fig.axes
    lo = 100.0 / results["alad"].metrics["n_valid_cells"]  # one cell, in % of the map
    assert ax.get_xscale() == "log" and ax.get_xlim() == pytest.approx((lo / 100, 1.0))
    chance, *lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != ":"]
    np.testing.assert_allclose(chance.get_xdata(), chance.get_ydata())
    assert len(lines) == 4  # a curve and its read-off points per detector with area metrics (not geo)
    for (curve, points), r in zip(zip(lines[::2], lines[1::2], strict=True), results.values(), strict=True):
        np.testing.assert_allclose(curve.get_xdata(), np.maximum(r.capture_area_pct, lo) / 100)
        np.testing.assert_allclose(curve.get_ydata(), r.capture_deposit_pct / 100)
        at = np.interp([1.0, 5.0, 10.0], r.capture_area_pct, r.capture_deposit_pct)
        np.testing.assert_allclose(points.get_xydata(), np.c_[[0.01, 0.05, 0.1], at / 100])
        assert curve.get_label() == (f"{r.name}: deposits {at[0]:.0f} % in 1 %, {at[1]:.0f} % in 5 %, "
                                     f"{at[2]:.0f} % in 10 % of the map (AUC {r.metrics['success_rate_auc']:.3f})")
    assert lines[0].get_label().startswith("alad: deposits 100 % in 1 %")  # the four hot cells top the map
    assert [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":"] == [0.01, 0.05, 0.1]

    empty = plot_success(tmp_path / "s2.png", {"geo": geo}, note="no area metrics here")
    assert [t.get_text() for t in empty.axes[0].texts] == ["no area metrics here"]


def test_map_draws_each_grid_in_classes_with_its_deposits(tmp_path, evaluated):
    grids, deposits, results, _ = evaluated
    fig = plot_map(tmp_path / "map.png", results, grids, deposits, "Two detectors")
    _assert_image(tmp_path / "map.png", (6.2 * 2, 6.2))
    assert fig.get_suptitle() == "Two detectors"
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["alad (score: unknown)", "vae (score: unknown)"]
    for ax, (name, grid) in zip(panels, grids.items(), strict=True):
        shown = ax.images[0].get_array()
        np.testing.assert_array_equal(shown.mask, np.isnan(grid.values))  # no data stays no data
        np.testing.assert_array_equal(shown.filled(np.nan), grid.values)  # every cell: a 40 × 50 grid is not thinned
        assert ax.images[0].get_extent() == pytest.approx([400.0, 405.0, 2796.0, 2800.0])  # km
        assert ax.get_xlabel() == "Easting (km, EPSG:32650)" and ax.get_ylabel() == "Northing (km, EPSG:32650)"
        used, nodata = ax.collections
        np.testing.assert_allclose(used.get_offsets(), np.c_[deposits.x[:4], deposits.y[:4]] / 1000)
        np.testing.assert_allclose(nodata.get_offsets(), [[deposits.x[4] / 1000, deposits.y[4] / 1000]])
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["deposit (4)", "on no-data (1)", "no data (no score)"]
        assert legend.get_title().get_text() == "1 deposits outside the grid"
    colourbars = [ax for ax in fig.axes if not ax.images and ax.get_ylabel().startswith("anomaly score class")]
    assert len(colourbars) == 2
    ticks = [t.get_text() for t in colourbars[0].get_yticklabels()]
    assert [t.split("\n")[0] for t in ticks] == class_labels()
    p50 = results["alad"].metrics["class_breaks"]["P50"]
    assert ticks[0] == f"< P50\n< {p50:.3g}"


def test_map_of_a_large_grid_is_thinned_for_display(tmp_path):
    values = np.arange(1300 * 12, dtype="float32").reshape(1300, 12)
    grid = make_scores(values)
    deposits = Deposits.from_xy(*cell_xy([1299], [11]), crs=CRS)
    result = evaluate_scores(grid, deposits, runs=1, min_dist_km=0.2, name="big")
    fig = plot_map(tmp_path / "map.png", {"big": result}, {"big": grid}, deposits, "big")
    (panel,) = [ax for ax in fig.axes if ax.images]
    shown = panel.images[0].get_array()
    assert shown.shape == (650, 6)  # every 2nd cell: at most 1,200 pixels a side
    np.testing.assert_array_equal(shown, values[::2, ::2])
    assert panel.get_legend().get_title().get_text() == ""  # no deposit outside the grid: no legend title
