"""Tests of geogan.synth.fields: random streams, the lattice, Gaussian fields, domains and halos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from geogan.synth import DEPOSIT_MODELS, ELEMENTS, PRESETS
from geogan.synth.deposits import DEPOSIT_SIZES
from geogan.synth.fields import (
    STREAM_DEPOSITS,
    STREAM_DOMAINS,
    STREAM_FACTOR_FIELD,
    Lattice,
    gaussian_field,
    halo_amplitudes,
    make_domains,
    make_halos,
    random_stream,
    rasterise_domains,
)

#: a 60 x 40 km world with a few bodies of each kind and 40 deposits (known and hidden)
SMALL = dataclasses.replace(
    PRESETS["demo"], name="small", extent_m=(0.0, 0.0, 60_000.0, 40_000.0), n_granites=4, n_mafic=3, n_shale=2,
    granite_radius_m=(3_000.0, 6_000.0), mafic_radius_m=(2_000.0, 4_000.0), shale_radius_m=(2_000.0, 3_000.0),
    n_deposits=30, n_hidden_deposits=10,
    deposit_models=(("W-polymetallic", 0.5), ("Ni-Cu-Co", 0.3), ("Sb-Hg", 0.2)),
)


# ----------------------------------------------------------------------------- random streams


def test_a_stream_is_keyed_by_seed_and_component():
    draw = lambda *key: random_stream(*key).random(5)  # noqa: E731
    np.testing.assert_array_equal(draw(7, STREAM_DOMAINS), draw(7, STREAM_DOMAINS))
    np.testing.assert_array_equal(draw(7, STREAM_DOMAINS),
                                  np.random.default_rng(np.random.SeedSequence(7, spawn_key=(STREAM_DOMAINS,)))
                                  .random(5))
    others = [draw(8, STREAM_DOMAINS), draw(7, STREAM_DEPOSITS), draw(7, STREAM_FACTOR_FIELD, 0),
              draw(7, STREAM_FACTOR_FIELD, 1)]
    for other in others:
        assert not np.allclose(other, draw(7, STREAM_DOMAINS))
    # a component's numbers do not depend on how much another one drew
    a = random_stream(7, STREAM_DEPOSITS)
    random_stream(7, STREAM_DOMAINS).random(10_000)
    np.testing.assert_array_equal(a.random(5), draw(7, STREAM_DEPOSITS))


# ----------------------------------------------------------------------------- the lattice


def test_lattice_over_an_extent_covers_it():
    lattice = Lattice.over((1_000.0, 2_000.0, 2_000.0, 2_600.0), 250.0)
    assert lattice == Lattice(1_000.0, 2_000.0, 250.0, (4, 5))  # (ny, nx): 0..600 and 0..1000 m
    xs, ys = lattice.node_coords(slice(1, 3), slice(2, 5))
    assert xs.shape == (1, 3) and ys.shape == (2, 1)
    np.testing.assert_array_equal(xs[0], [1_500.0, 1_750.0, 2_000.0])
    np.testing.assert_array_equal(ys[:, 0], [2_250.0, 2_500.0])
    # a part-spacing remainder still gets a node beyond the edge
    assert Lattice.over((0.0, 0.0, 1_001.0, 10.0), 250.0).shape == (2, 6)


def test_lattice_sample_is_bilinear_and_holds_the_edge_outside():
    lattice = Lattice.over((0.0, 0.0, 1_000.0, 500.0), 100.0)
    xs, ys = lattice.node_coords(slice(0, lattice.shape[0]), slice(0, lattice.shape[1]))
    plane = (2.0 * xs + 0.5 * ys + 3.0) * np.ones(lattice.shape)
    x = np.array([0.0, 37.5, 512.0, 999.0])
    y = np.array([0.0, 260.0, 49.0, 500.0])
    np.testing.assert_allclose(lattice.sample(plane, x, y), 2.0 * x + 0.5 * y + 3.0, rtol=1e-6)
    # a stack of fields is sampled field by field
    stack = np.stack([plane, -plane, np.zeros(lattice.shape)])
    out = lattice.sample(stack, x, y)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[1], -out[0])
    np.testing.assert_array_equal(out[2], 0.0)
    # beyond the lattice: the nearest edge node's value
    np.testing.assert_allclose(lattice.sample(plane, np.array([-500.0, 5_000.0]), np.array([250.0, 250.0])),
                               [0.5 * 250 + 3.0, 2.0 * 1_000 + 0.5 * 250 + 3.0])


# ----------------------------------------------------------------------------- Gaussian fields


def _lag_correlation(field: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(field[:, :-lag].ravel(), field[:, lag:].ravel())[0, 1])


def test_gaussian_field_is_standardised_float32_and_seeded():
    lattice = Lattice.over((0.0, 0.0, 50_000.0, 40_000.0), 250.0)
    field = gaussian_field(random_stream(0, STREAM_FACTOR_FIELD), lattice, 2_500.0)
    assert field.shape == lattice.shape and field.dtype == np.float32 and field.flags.c_contiguous
    assert abs(float(field.mean(dtype=np.float64))) < 1e-6
    assert float(field.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(field, gaussian_field(random_stream(0, STREAM_FACTOR_FIELD), lattice, 2_500.0))
    assert not np.allclose(field, gaussian_field(random_stream(1, STREAM_FACTOR_FIELD), lattice, 2_500.0))


def test_gaussian_field_correlation_follows_its_length():
    lattice = Lattice.over((0.0, 0.0, 50_000.0, 40_000.0), 250.0)
    smooth = gaussian_field(random_stream(0, STREAM_FACTOR_FIELD), lattice, 2_500.0)  # 10 nodes
    rough = gaussian_field(random_stream(0, STREAM_FACTOR_FIELD), lattice, 125.0)  # half a node
    assert _lag_correlation(smooth, 1) > 0.95
    assert abs(_lag_correlation(smooth, 30)) < 0.25  # three correlation lengths on: nearly independent
    assert _lag_correlation(rough, 1) < 0.6


# ----------------------------------------------------------------------------- domains


def test_make_domains_draws_each_kind_within_the_preset():
    domains = make_domains(SMALL, seed=3)
    assert [d["domain_id"] for d in domains] == ["G1", "G2", "G3", "G4", "M1", "M2", "M3", "S1", "S2"]
    assert [d["kind"] for d in domains] == ["granite"] * 4 + ["mafic"] * 3 + ["shale"] * 2
    ranges = {"granite": SMALL.granite_radius_m, "mafic": SMALL.mafic_radius_m, "shale": SMALL.shale_radius_m}
    for d in domains:
        assert 0 <= d["x"] <= 60_000 and 0 <= d["y"] <= 40_000
        lo, hi = ranges[d["kind"]]
        assert lo - 1 <= d["radius_m"] <= hi + 1
        assert [h[0] for h in d["harmonics"]] == [2, 3, 4]
        assert sum(h[1] for h in d["harmonics"]) <= 0.3  # outline within 0.7-1.3 x the mean radius
    assert make_domains(SMALL, seed=3) == domains
    assert make_domains(SMALL, seed=4) != domains
    # ids are zero-padded to the count's width
    many = make_domains(dataclasses.replace(SMALL, n_granites=12, n_mafic=0, n_shale=0), seed=3)
    assert [d["domain_id"] for d in many][:2] == ["G01", "G02"] and many[-1]["domain_id"] == "G12"


def test_domains_without_shales_keep_the_granites_and_mafic_bodies():
    with_shales = make_domains(SMALL, seed=3)
    without = make_domains(dataclasses.replace(SMALL, n_shale=0), seed=3)
    assert without == [d for d in with_shales if d["kind"] != "shale"]


def _circle(kind="granite", x=5_000.0, y=5_000.0, radius_m=2_000.0):
    return {"domain_id": "G1", "kind": kind, "x": x, "y": y, "radius_m": radius_m,
            "harmonics": [[2, 0.0, 0.0], [3, 0.0, 0.0], [4, 0.0, 0.0]]}


def test_rasterise_domains_is_a_logistic_edge_of_the_given_width():
    lattice = Lattice.over((0.0, 0.0, 10_000.0, 10_000.0), 100.0)
    weight = rasterise_domains([_circle()], "granite", lattice, edge_m=400.0)
    assert weight.dtype == np.float32 and weight.shape == lattice.shape
    row = weight[50]  # y = 5,000: along x through the centre (nodes every 100 m)
    assert row[50] == pytest.approx(1.0, abs=1e-6)
    assert row[70] == pytest.approx(0.5, abs=1e-6)  # on the outline
    # the 90 % and 10 % weights sit edge_m / 2 inside and outside the outline
    assert row[68] == pytest.approx(0.9, abs=1e-5) and row[72] == pytest.approx(0.1, abs=1e-5)
    assert row[99] < 1e-6 and weight[0, 0] == 0.0
    np.testing.assert_allclose(row[:50], row[100:49:-1][:50], atol=1e-6)  # symmetric about the centre


def test_rasterise_domains_takes_the_kind_asked_and_the_max_over_bodies():
    lattice = Lattice.over((0.0, 0.0, 10_000.0, 10_000.0), 100.0)
    a, b = _circle(x=4_000.0), _circle(x=6_000.0)
    both = rasterise_domains([a, b, _circle(kind="mafic", x=9_000.0)], "granite", lattice, edge_m=400.0)
    np.testing.assert_array_equal(both, np.maximum(rasterise_domains([a], "granite", lattice, 400.0),
                                                   rasterise_domains([b], "granite", lattice, 400.0)))
    assert both[50, 90] < 0.01  # the mafic body is not a granite
    assert rasterise_domains([a, b], "shale", lattice, 400.0).max() == 0.0
    # a body far outside the lattice leaves it untouched
    far = _circle(x=100_000.0, y=100_000.0)
    assert rasterise_domains([far], "granite", lattice, 400.0).max() == 0.0


# ----------------------------------------------------------------------------- deposits and halos


def test_make_halos_places_known_and_hidden_deposits():
    domains = make_domains(SMALL, seed=3)
    halos = make_halos(SMALL, 3, domains)
    n = SMALL.n_deposits + SMALL.n_hidden_deposits
    assert all(len(halos[k]) == n for k in ("x", "y", "model", "size", "setting", "radius_m", "azimuth_deg",
                                            "aspect", "hidden"))
    assert int(halos["hidden"].sum()) == SMALL.n_hidden_deposits
    assert list(halos["model_names"]) == ["W-polymetallic", "Ni-Cu-Co", "Sb-Hg"]
    assert list(halos["size_names"]) == list(DEPOSIT_SIZES)
    assert np.all((halos["x"] >= 1_000) & (halos["x"] <= 59_000) & (halos["y"] >= 1_000) & (halos["y"] <= 39_000))
    # each halo's radius is its size's, within +-25 %
    nominal = np.array([DEPOSIT_SIZES[str(halos["size_names"][s])][2] for s in halos["size"]])
    assert np.all((halos["radius_m"] >= 0.8 * nominal - 1) & (halos["radius_m"] <= 1.25 * nominal + 1))
    assert np.all((halos["aspect"] >= 1.0) & (halos["aspect"] <= 2.5))
    assert np.all((halos["azimuth_deg"] >= 0.0) & (halos["azimuth_deg"] <= 180.0))
    assert set(halos["setting"]) <= {"granite_contact", "mafic", "anywhere"}
    # Sb-Hg never sits at a granite contact, W-polymetallic mostly does
    models = halos["model_names"][halos["model"]]
    assert "granite_contact" not in set(halos["setting"][models == "Sb-Hg"])
    assert np.mean(halos["setting"][models == "W-polymetallic"] == "granite_contact") >= 0.5
    again = make_halos(SMALL, 3, domains)
    assert all(np.array_equal(halos[k], again[k]) for k in halos)


def test_halos_sit_where_their_setting_says():
    domains = make_domains(SMALL, seed=3)
    halos = make_halos(SMALL, 3, domains)
    for kind, setting, (lo, hi) in (("granite", "granite_contact", (0.4, 2.0)), ("mafic", "mafic", (0.0, 1.05))):
        bodies = [d for d in domains if d["kind"] == kind]
        for k in np.flatnonzero(halos["setting"] == setting):
            ratio = min(np.hypot(halos["x"][k] - d["x"], halos["y"][k] - d["y"]) / d["radius_m"] for d in bodies)
            assert lo <= ratio <= hi, (setting, ratio)
    # without bodies to sit on, every deposit is anywhere
    bare = make_halos(dataclasses.replace(SMALL, n_granites=0, n_mafic=0), 3, [])
    assert set(bare["setting"]) == {"anywhere"}


def _halos_of(model: str, n: int, size: str = "large") -> dict:
    return {"x": np.zeros(n), "model": np.zeros(n, dtype=int), "model_names": np.array([model]),
            "size": np.full(n, list(DEPOSIT_SIZES).index(size)), "size_names": np.array(list(DEPOSIT_SIZES))}


def test_halo_amplitudes_scatter_log_normally_about_the_model():
    halos = _halos_of("W-polymetallic", 4_000)
    w = halo_amplitudes(halos, ELEMENTS["W"], seed=0)
    ratio = w / DEPOSIT_MODELS["W-polymetallic"].amplitudes["W"]
    assert np.all(ratio > 0)
    assert float(np.mean(np.log(ratio))) == pytest.approx(0.0, abs=0.03)
    assert float(np.std(np.log(ratio))) == pytest.approx(0.35, abs=0.02)
    # small deposits scale the amplitude by their multiplier, with the same scatter
    small = halo_amplitudes(_halos_of("W-polymetallic", 4_000, "small"), ELEMENTS["W"], seed=0)
    np.testing.assert_allclose(small, w * DEPOSIT_SIZES["small"][1])
    np.testing.assert_array_equal(halo_amplitudes(halos, ELEMENTS["W"], seed=0), w)
    assert not np.allclose(halo_amplitudes(halos, ELEMENTS["Sn"], seed=0) / 25.0, ratio)  # each element its own draws
    # an element the model does not enrich gets none
    np.testing.assert_array_equal(halo_amplitudes(halos, ELEMENTS["Cr"], seed=0), 0.0)
