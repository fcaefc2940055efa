"""Tests of geogan.synth.truth: the known-deposit table and the truth record of a generator."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pytest

from geogan.synth import PRESETS
from geogan.synth.deposits import DEPOSIT_SIZES
from geogan.synth.elements import FACTOR_NAMES
from geogan.synth.generator import SynthGenerator
from geogan.synth.presets import SHALE_FACTORS, resolve_elements
from geogan.synth.truth import deposits_table, truth_record

#: the demo's world in chunks of 400 samples, so the counts the truth reports span chunks
DEMO = dataclasses.replace(PRESETS["demo"], chunk_samples=400)


def _drawn(preset=DEMO, elements=("W", "Cr", "Ag"), n=1_000, seed=5):
    """A generator whose chunks were drawn, and the survey table they make."""
    generator = SynthGenerator(preset, resolve_elements(list(elements), preset), n, seed)
    return generator, pa.concat_tables(list(generator.chunks())).to_pandas()


@pytest.fixture(scope="module")
def drawn():
    return _drawn()


def test_deposits_table_lists_the_known_deposits_only(drawn):
    generator, _ = drawn
    table = deposits_table(generator)
    halos = generator.halos
    known = ~halos["hidden"]
    assert table.column_names == ["deposit_id", "x", "y", "type", "size", "setting"]
    assert table.num_rows == DEMO.n_deposits == int(known.sum())
    assert table["deposit_id"].to_pylist() == [f"D{i:04d}" for i in range(1, DEMO.n_deposits + 1)]
    np.testing.assert_array_equal(table["x"].to_numpy(), halos["x"][known])
    np.testing.assert_array_equal(table["y"].to_numpy(), halos["y"][known])
    assert set(table["type"].to_pylist()) == {"W-polymetallic"}
    assert table["size"].to_pylist() == [str(halos["size_names"][s]) for s in halos["size"][known]]
    assert set(table["setting"].to_pylist()) <= {"granite_contact", "mafic", "anywhere"}


def test_truth_record_describes_the_run_and_is_json(drawn):
    generator, table = drawn
    record = truth_record(generator)
    assert json.loads(json.dumps(record)) == record  # plain JSON types throughout
    assert (record["generator"], record["preset"], record["seed"], record["crs"]) == (
        "geogan.synth", "demo", 5, "EPSG:32650")
    assert record["extent"] == {"xmin": 400_000.0, "ymin": 2_700_000.0, "xmax": 500_000.0, "ymax": 2_800_000.0}
    assert record["n_samples"] == len(table) == 1_000
    assert record["columns"] == {"id": "sample_id", "x": "x", "y": "y"}
    assert record["n_field_duplicates"] == int(table.duplicated(["x", "y"]).sum()) > 0
    assert record["domains"] == generator.domains
    model = record["model"]
    assert model["factor_names"] == list(FACTOR_NAMES)
    assert sum(model["variance_shares"].values()) == pytest.approx(1.0)
    assert model["sizes"] == {name: {"probability": p, "amplitude_multiplier": a, "radius_m": r}
                              for name, (p, a, r) in DEPOSIT_SIZES.items()}


def test_element_records_count_what_the_chunks_drew(drawn):
    generator, table = drawn
    elements = truth_record(generator)["elements"]
    assert [(e["symbol"], e["column"], e["unit"]) for e in elements] == [
        ("W", "W_ppm", "ppm"), ("Cr", "Cr_ppm", "ppm"), ("Ag", "Ag_ppb", "ppb")]
    for e in elements:
        text = table[e["column"]].astype("str")
        assert e["censored_fraction"] == pytest.approx(text.str.startswith("<").mean(), abs=1e-6)
        assert e["missing_fraction"] == pytest.approx(table[e["column"]].isna().mean(), abs=1e-6)
        assert list(e["loadings"]) == list(FACTOR_NAMES)
    by_symbol = {e["symbol"]: e for e in elements}
    assert by_symbol["W"]["censored_fraction"] > 0 and by_symbol["W"]["detection_limit"] == 0.5
    assert by_symbol["W"]["granite_factor"] == 3.0 and by_symbol["W"]["background_median"] == 1.8


def test_halo_records_match_the_deposits_and_the_amplitudes(drawn):
    generator, _ = drawn
    halos = truth_record(generator)["halos"]
    assert len(halos) == DEMO.n_deposits + DEMO.n_hidden_deposits
    known = [h for h in halos if h["known"]]
    assert [h["deposit_id"] for h in known] == deposits_table(generator)["deposit_id"].to_pylist()
    assert all(h["deposit_id"] is None for h in halos if not h["known"])
    assert sum(not h["known"] for h in halos) == DEMO.n_hidden_deposits
    for k, h in enumerate(halos):
        # W-polymetallic enriches W and Ag, not Cr; amplitudes to 4 significant digits
        assert set(h["amplitudes"]) == {"W", "Ag"}
        assert h["amplitudes"]["W"] == pytest.approx(generator.amplitudes[0, k], rel=1e-3)
        assert h["type"] == "W-polymetallic" and h["size"] in DEPOSIT_SIZES
        assert h["radius_m"] > 0 and 1.0 <= h["aspect"] <= 2.5


def test_traps_are_recorded_as_the_generator_laid_them(drawn):
    generator, table = drawn
    traps = truth_record(generator)["traps"]
    assert traps["shale_factors"] == dict(SHALE_FACTORS)
    lab = traps["laboratories"]
    assert lab["column"] == "lab" and lab["B"]["sheets"] == [list(s) for s in generator.lab_sheets]
    assert lab["B"]["sheet_m"] == DEMO.sheet_m and lab["B"]["bias"] == dict(DEMO.lab_bias)
    assert traps["spikes"] == generator.spikes and len(traps["spikes"]) > 0
    assert {s["sample_id"] for s in traps["spikes"]} <= set(table["sample_id"])


def test_a_preset_without_traps_records_none():
    plain = dataclasses.replace(DEMO, n_shale=0, lab_sheets=0, spike_fraction=0.0)
    generator, table = _drawn(plain, elements=("W",), n=200)
    assert truth_record(generator)["traps"] == {"shale_factors": {}, "laboratories": {}, "spikes": []}
    assert "lab" not in table.columns
