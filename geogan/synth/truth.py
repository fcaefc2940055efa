"""What the synthetic-survey generator used, as records: ``truth.json`` and the known-deposit table.

What lives here: :func:`truth_record` (every parameter, domain, halo and trap the generator
used, after its chunks were drawn: the censored and missing shares are counted then) and
:func:`deposits_table` (the deposits a survey's user is told of, the hidden ones left out).
What does not: generating the world and the survey (:mod:`geogan.synth.generator`) and
writing them (:mod:`geogan.synth.writer`).

>>> from geogan.synth.generator import SynthGenerator
>>> from geogan.synth.presets import resolve_elements, resolve_preset
>>> preset = resolve_preset("demo")
>>> generator = SynthGenerator(preset, resolve_elements(["W", "Sn"], preset), 200, 0)
>>> sum(len(chunk) for chunk in generator.chunks())
200
>>> record = truth_record(generator)
>>> record["n_samples"], [e["symbol"] for e in record["elements"]]
(200, ['W', 'Sn'])
>>> deposits_table(generator).column_names
['deposit_id', 'x', 'y', 'type', 'size', 'setting']
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from geogan.synth.elements import FACTOR_NAMES
from geogan.synth.generator import (SHARE_FACTORS, SHARE_NUGGET, SHARE_OWN_FIELD, SIGNIFICANT_DIGITS,
                                    SynthGenerator)
from geogan.synth.deposits import DEPOSIT_SIZES
from geogan.synth.presets import SHALE_FACTORS, SynthPreset

__all__ = ["deposits_table", "truth_record"]


def deposits_table(generator: SynthGenerator) -> pa.Table:
    """Known deposits (not the hidden ones): ``deposit_id, x, y, type, size, setting``."""
    halos = generator.halos
    known = ~halos["hidden"]
    width = max(4, len(str(int(known.sum()))))
    return pa.table({
        "deposit_id": [f"D{i + 1:0{width}d}" for i in range(int(known.sum()))],
        "x": pa.array(halos["x"][known]),
        "y": pa.array(halos["y"][known]),
        "type": [str(halos["model_names"][m]) for m in halos["model"][known]],
        "size": [str(halos["size_names"][s]) for s in halos["size"][known]],
        "setting": [str(s) for s in halos["setting"][known]],
    })


def truth_record(generator: SynthGenerator) -> dict[str, Any]:
    """Everything the generator used, as written to ``truth.json`` (after its chunks were drawn)."""
    preset = generator.preset
    xmin, ymin, xmax, ymax = preset.extent_m
    return {
        "generator": "geogan.synth",
        "preset": preset.name,
        "seed": generator.seed,
        "crs": preset.crs,
        "extent": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
        "n_samples": generator.n_samples,
        "n_field_duplicates": generator.n_duplicates,
        "columns": {"id": "sample_id", "x": "x", "y": "y"},
        "elements": _element_records(generator),
        "model": _model_record(preset),
        "domains": generator.domains,
        "halos": _halo_records(generator),
        "traps": {
            "shale_factors": dict(SHALE_FACTORS) if generator.shale is not None else {},
            "laboratories": ({"column": "lab", "B": {"sheets": [list(s) for s in generator.lab_sheets],
                                                     "sheet_m": preset.sheet_m,
                                                     "bias": dict(preset.lab_bias)}}
                             if generator.lab_sheets else {}),
            "spikes": list(generator.spikes),
        },
    }


def _element_records(generator: SynthGenerator) -> list[dict[str, Any]]:
    """Per element: its parameters and the censored and missing shares of the survey drawn."""
    n = generator.n_samples
    elements = []
    for e, spec in enumerate(generator.elements):
        elements.append({
            "symbol": spec.symbol,
            "column": spec.column,
            "unit": spec.unit,
            "detection_limit": spec.detection_limit,
            "background_median": spec.median,
            "background_log_sd": spec.log_sd,
            "granite_factor": spec.granite_factor,
            "mafic_factor": spec.mafic_factor,
            "loadings": dict(zip(FACTOR_NAMES, spec.loadings)),
            "halo_reach": spec.halo_reach,
            "analytical_rsd": spec.analytical_rsd,
            "text_column": generator.text_columns[e],
            "censored_fraction": round(float(generator.censored_counts[e]) / n, 6),
            "missing_fraction": round(float(generator.missing_counts[e]) / n, 6),
        })
    return elements


def _halo_records(generator: SynthGenerator) -> list[dict[str, Any]]:
    """Per halo, hidden or known (those get the ``deposit_id`` of :func:`deposits_table`): its
    place, shape and each element's amplitude."""
    halos = generator.halos
    known = ~halos["hidden"]
    width = max(4, len(str(int(known.sum()))))
    deposit_ids = iter(f"D{i + 1:0{width}d}" for i in range(int(known.sum())))
    halo_list = []
    for k in range(len(halos["x"])):
        amplitudes = {
            spec.symbol: float(f"{generator.amplitudes[e, k]:.4g}")
            for e, spec in enumerate(generator.elements) if generator.amplitudes[e, k] > 0
        }
        halo_list.append({
            "deposit_id": None if halos["hidden"][k] else next(deposit_ids),
            "known": not bool(halos["hidden"][k]),
            "x": float(halos["x"][k]),
            "y": float(halos["y"][k]),
            "type": str(halos["model_names"][halos["model"][k]]),
            "size": str(halos["size_names"][halos["size"][k]]),
            "setting": str(halos["setting"][k]),
            "radius_m": float(halos["radius_m"][k]),
            "azimuth_deg": float(halos["azimuth_deg"][k]),
            "aspect": float(halos["aspect"][k]),
            "amplitudes": amplitudes,
        })
    return halo_list


def _model_record(preset: SynthPreset) -> dict[str, Any]:
    """The value model: its formula, variance shares, correlation lengths and deposit sizes."""
    return {
        "value": "median * exp(log_sd * (factors + own field + nugget)) "
                 "* granite_factor^g * mafic_factor^m * exp(analytical) "
                 "* (1 + sum_halos amplitude * exp(-(d / (radius * reach))^2))",
        "factor_names": list(FACTOR_NAMES),
        "variance_shares": {"factors": SHARE_FACTORS, "own_field": SHARE_OWN_FIELD,
                            "nugget": SHARE_NUGGET},
        "factor_corr_m": list(preset.factor_corr_m),
        "element_corr_m": preset.element_corr_m,
        "lattice_m": preset.lattice_m,
        "domain_edge_m": preset.domain_edge_m,
        "significant_digits": SIGNIFICANT_DIGITS,
        "halo_distance": "elliptical: d = sqrt(along^2 / aspect + across^2 * aspect), "
                         "azimuth clockwise from +x towards +y",
        "sizes": {name: {"probability": p, "amplitude_multiplier": a,
                         "radius_m": r} for name, (p, a, r) in DEPOSIT_SIZES.items()},
    }
