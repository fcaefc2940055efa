"""Synthetic regional stream-sediment surveys: the embedded default data set.

The generator builds a survey that a geochemist would find plausible, so the demo, the tests
and the national-scale benchmark need no download:

* log-normal backgrounds whose logs are spatially correlated Gaussian random fields (FFT on a
  coarse lattice, interpolated to the samples); a few shared latent factor fields (felsic,
  ferromagnesian/scavenging, carbonate, chalcophile) are mixed into the elements so that the
  elements correlate the way real ones do;
* lithological domains: granite bodies (raise W, Sn, Bi, Be, Li, U, Th, K2O, ...) and mafic
  bodies (raise Cr, Ni, Co, V, MgO, ...) as smooth blobs that shift element levels;
* deposits with multiplicative multi-element halos decaying over a few km (Gaussian) (default a
  W-polymetallic model: W, Sn, Mo, Bi, Ag strongly enriched), preferentially at granite
  contacts; half of them small so that some are subtle; a few halos belong to undiscovered
  deposits (in the truth, not in ``deposits.csv``), as in every real survey;
* nugget and analytical noise, drainage-like clustered sample locations plus a uniform
  component, values rounded to 3 significant figures, censoring written as ``<DL`` text,
  missing cells and a few field duplicates (exact same location, re-sampled).

Everything derives from ``seed`` through independent random streams (one per component,
element and chunk), so the same seed gives byte-identical files, and a subset of elements
gives the same values as the full set for those elements.

>>> survey = make_survey("demo", n_samples=300, elements=["W", "Cu"], seed=1)
>>> list(survey.table.columns)
['sample_id', 'x', 'y', 'W_ppm', 'Cu_ppm']
>>> survey.truth["crs"]
'EPSG:32650'
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from scipy import fft as sp_fft
from scipy import ndimage, special
from scipy.spatial import cKDTree

from geogan._io import holds_output_lock
from geogan.errors import ConfigError, OutputExistsError

__all__ = [
    "DEPOSIT_MODELS",
    "ELEMENTS",
    "NATIONAL_ELEMENTS",
    "PRESETS",
    "DepositModel",
    "ElementSpec",
    "SynthOutputs",
    "SynthPreset",
    "SynthSurvey",
    "make_survey",
    "write_synthetic_survey",
]

#: Names of the latent factor fields shared between elements (order of ``loadings``).
FACTOR_NAMES = ("felsic", "ferromagnesian", "carbonate", "chalcophile")

# Variance shares of an element's background log-sd: shared factors, its own spatial field,
# and the spatially uncorrelated sampling "nugget". Real stream sediments carry a large nugget,
# which is what makes single-sample anomalies unreliable and IDW smoothing useful.
_SHARE_FACTORS = 0.40
_SHARE_OWN_FIELD = 0.25
_SHARE_NUGGET = 0.35

_SIGNIFICANT_DIGITS = 3
# An element column is text (may hold "<DL") when censoring is possible at all: expected
# censored fraction above this, under the lowest domain factor.
_TEXT_COLUMN_MIN_CENSORED = 1e-7
_COORD_DECIMALS = 0  # metres: what field GPS and map-sheet digitising give


@dataclass(frozen=True)
class ElementSpec:
    """How one element is modelled.

    Attributes
    ----------
    symbol
        Element or oxide symbol (``"W"``, ``"Fe2O3"``).
    unit
        ``"ppm"``, ``"ppb"`` or ``"pct"``; the column is ``<symbol>_<unit>``.
    median
        Regional background median, in ``unit`` (outside domains and halos).
    log_sd
        Natural-log standard deviation of the background.
    detection_limit
        Lower detection limit, in ``unit``; smaller values are written ``<DL``.
    loadings
        Loadings on the shared factor fields, in the order of ``FACTOR_NAMES`` (normalised
        to unit length when used).
    granite_factor, mafic_factor
        Multiplicative shift of the background inside granite / mafic domains.
    halo_reach
        Halo radius multiplier: >1 for distal (As, Sb, Hg, Ag), <1 for proximal elements.
    analytical_rsd
        Relative analytical error (log-sd of the multiplicative noise).
    missing_fraction
        Probability that a cell is empty (not analysed, lost).
    max_value
        Physical cap in ``unit`` (oxide percentages), or ``None``.
    """

    symbol: str
    unit: str
    median: float
    log_sd: float
    detection_limit: float
    loadings: tuple[float, float, float, float]
    granite_factor: float
    mafic_factor: float
    halo_reach: float
    analytical_rsd: float
    missing_fraction: float
    max_value: float | None = None

    @property
    def column(self) -> str:
        """Column name in the survey table, e.g. ``"W_ppm"``."""
        return f"{self.symbol}_{self.unit}"


def _el(symbol, unit, median, log_sd, dl, loadings, granite, mafic, reach, rsd, missing,
        max_value=None) -> ElementSpec:
    return ElementSpec(symbol, unit, median, log_sd, dl, loadings, granite, mafic, reach, rsd,
                       missing, max_value)


# Backgrounds follow China's stream-sediment medians (RGNR compilations) to within a factor
# of ~1.5; Ag, Au, Cd, Hg in ppb as RGNR reports them. Detection limits are set so that
# several trace elements are 5-40 % censored, as in real regional data.
# symbol unit median log_sd DL (felsic, femag, carb, chalco) granite mafic reach rsd missing
_CATALOGUE = (
    _el("Ag", "ppb", 80.0, 0.60, 40.0, (0.0, 0.0, 0.2, 0.8), 1.2, 0.9, 1.3, 0.12, 0.005),
    _el("As", "ppm", 9.0, 0.90, 1.0, (0.0, 0.3, 0.0, 0.8), 0.9, 1.1, 1.5, 0.08, 0.005),
    _el("Au", "ppb", 1.2, 1.00, 0.5, (0.0, 0.1, 0.0, 0.8), 1.0, 1.4, 1.2, 0.20, 0.010),
    _el("B", "ppm", 45.0, 0.70, 10.0, (0.3, 0.0, 0.0, 0.5), 1.4, 0.6, 1.4, 0.10, 0.005),
    _el("Ba", "ppm", 480.0, 0.45, 50.0, (0.7, 0.0, 0.2, 0.0), 1.2, 0.7, 1.0, 0.06, 0.003),
    _el("Be", "ppm", 2.1, 0.35, 1.0, (0.9, 0.0, 0.0, 0.1), 1.8, 0.7, 1.0, 0.08, 0.003),
    _el("Bi", "ppm", 0.35, 0.75, 0.2, (0.2, 0.0, 0.0, 0.8), 2.0, 0.8, 0.8, 0.10, 0.005),
    _el("Cd", "ppb", 140.0, 0.60, 80.0, (0.0, 0.3, 0.4, 0.6), 1.0, 1.1, 1.3, 0.12, 0.008),
    _el("Co", "ppm", 12.0, 0.50, 1.0, (-0.3, 0.9, 0.0, 0.0), 0.6, 2.2, 0.8, 0.06, 0.003),
    _el("Cr", "ppm", 60.0, 0.70, 5.0, (-0.4, 0.8, 0.0, 0.0), 0.5, 3.0, 0.8, 0.06, 0.003),
    _el("Cu", "ppm", 22.0, 0.60, 1.0, (-0.2, 0.7, 0.0, 0.4), 0.7, 1.8, 1.0, 0.06, 0.003),
    _el("F", "ppm", 480.0, 0.45, 100.0, (0.6, 0.3, 0.0, 0.2), 1.6, 0.8, 1.2, 0.08, 0.005),
    _el("Hg", "ppb", 40.0, 0.80, 20.0, (0.0, 0.0, 0.0, 0.9), 1.0, 1.0, 1.6, 0.15, 0.015),
    _el("La", "ppm", 40.0, 0.35, 25.0, (0.9, 0.0, 0.0, 0.0), 1.4, 0.7, 1.0, 0.08, 0.003),
    _el("Li", "ppm", 32.0, 0.45, 5.0, (0.6, 0.4, 0.0, 0.0), 1.8, 0.8, 1.0, 0.06, 0.003),
    _el("Mn", "ppm", 650.0, 0.50, 30.0, (0.0, 0.8, 0.3, 0.0), 0.9, 1.4, 1.2, 0.05, 0.003),
    _el("Mo", "ppm", 0.75, 0.70, 0.4, (0.2, 0.0, 0.0, 0.8), 1.3, 0.8, 0.7, 0.10, 0.005),
    _el("Nb", "ppm", 16.0, 0.35, 5.0, (0.8, 0.3, 0.0, 0.0), 1.5, 0.8, 1.0, 0.06, 0.003),
    _el("Ni", "ppm", 25.0, 0.70, 2.0, (-0.4, 0.8, 0.0, 0.0), 0.5, 3.0, 0.8, 0.06, 0.003),
    _el("P", "ppm", 600.0, 0.45, 100.0, (0.0, 0.7, 0.3, 0.0), 0.8, 1.3, 1.0, 0.06, 0.003),
    _el("Pb", "ppm", 26.0, 0.45, 5.0, (0.3, 0.0, 0.0, 0.7), 1.3, 0.7, 1.3, 0.06, 0.003),
    _el("Sb", "ppm", 0.70, 0.80, 0.3, (0.0, 0.0, 0.0, 0.9), 1.0, 1.0, 1.5, 0.10, 0.005),
    _el("Sn", "ppm", 3.2, 0.60, 1.5, (0.3, 0.0, 0.0, 0.6), 2.5, 0.8, 1.0, 0.10, 0.005),
    _el("Sr", "ppm", 140.0, 0.80, 5.0, (0.0, 0.0, 0.9, 0.0), 0.7, 1.3, 1.0, 0.05, 0.003),
    _el("Th", "ppm", 12.0, 0.35, 4.0, (0.9, 0.0, 0.0, 0.0), 1.6, 0.6, 1.0, 0.06, 0.003),
    _el("Ti", "ppm", 4000.0, 0.40, 100.0, (-0.2, 0.9, 0.0, 0.0), 0.7, 1.8, 0.8, 0.04, 0.003),
    _el("U", "ppm", 2.5, 0.40, 1.0, (0.8, 0.0, 0.0, 0.2), 1.7, 0.6, 1.0, 0.08, 0.003),
    _el("V", "ppm", 75.0, 0.45, 20.0, (-0.3, 0.9, 0.0, 0.0), 0.6, 1.8, 0.8, 0.05, 0.003),
    _el("W", "ppm", 1.8, 0.75, 0.5, (0.3, 0.0, 0.0, 0.6), 3.0, 0.8, 1.0, 0.10, 0.005),
    _el("Y", "ppm", 25.0, 0.30, 5.0, (0.7, 0.3, 0.0, 0.0), 1.3, 0.9, 1.0, 0.05, 0.003),
    _el("Zn", "ppm", 70.0, 0.45, 10.0, (0.0, 0.7, 0.2, 0.4), 0.9, 1.3, 1.3, 0.05, 0.003),
    _el("Zr", "ppm", 260.0, 0.40, 10.0, (0.7, -0.2, 0.0, 0.0), 1.2, 0.7, 1.0, 0.05, 0.003),
    _el("SiO2", "pct", 65.0, 0.12, 0.1, (0.4, -0.6, -0.5, 0.0), 1.05, 0.85, 0.7, 0.01, 0.003,
        92.0),
    _el("Al2O3", "pct", 13.0, 0.20, 0.05, (0.3, 0.7, 0.0, 0.0), 1.05, 1.0, 0.7, 0.02, 0.003,
        30.0),
    _el("Fe2O3", "pct", 4.5, 0.35, 0.05, (-0.2, 0.9, 0.0, 0.0), 0.75, 1.6, 0.7, 0.02, 0.003,
        40.0),
    _el("K2O", "pct", 2.4, 0.40, 0.05, (0.9, 0.0, 0.0, 0.0), 1.4, 0.6, 0.7, 0.02, 0.003,
        10.0),
    _el("Na2O", "pct", 1.1, 0.80, 0.05, (0.5, 0.0, 0.3, 0.0), 1.3, 1.2, 0.7, 0.03, 0.003,
        8.0),
    _el("CaO", "pct", 1.5, 1.00, 0.05, (-0.3, 0.2, 0.9, 0.0), 0.6, 1.5, 0.7, 0.03, 0.003,
        45.0),
    _el("MgO", "pct", 1.2, 0.60, 0.05, (-0.3, 0.5, 0.6, 0.0), 0.5, 2.5, 0.7, 0.03, 0.003,
        25.0),
)

#: Every element the generator knows, by symbol (catalogue order = random-stream order).
ELEMENTS: Mapping[str, ElementSpec] = MappingProxyType({e.symbol: e for e in _CATALOGUE})
_ELEMENT_INDEX = {e.symbol: i for i, e in enumerate(_CATALOGUE)}

#: The 39 elements of China's Regional Geochemistry-National Reconnaissance (RGNR) programme.
NATIONAL_ELEMENTS = (
    "Ag", "As", "Au", "B", "Ba", "Be", "Bi", "Cd", "Co", "Cr", "Cu", "F", "Hg", "La", "Li",
    "Mn", "Mo", "Nb", "Ni", "P", "Pb", "Sb", "Sn", "Sr", "Th", "Ti", "U", "V", "W", "Y", "Zn",
    "Zr", "SiO2", "Al2O3", "Fe2O3", "K2O", "Na2O", "CaO", "MgO",
)

_DEMO_ELEMENTS = (
    "W", "Sn", "Mo", "Bi", "Ag", "Au", "Cu", "Pb", "Zn", "As", "Cr", "Fe2O3", "K2O",
)


@dataclass(frozen=True)
class DepositModel:
    """A deposit type: its halo and where it tends to sit.

    Attributes
    ----------
    name
        Type name written in ``deposits.csv``.
    amplitudes
        Peak multiplicative enrichment minus one (``value × (1 + a)`` at the centre) for a
        large deposit, per element symbol; medium and small deposits scale it down.
    p_granite_contact
        Probability the deposit sits at a granite contact.
    p_mafic
        Probability it sits inside a mafic body (otherwise: anywhere).
    """

    name: str
    amplitudes: Mapping[str, float]
    p_granite_contact: float
    p_mafic: float = 0.0


DEPOSIT_MODELS: Mapping[str, DepositModel] = MappingProxyType({
    m.name: m
    for m in (
        DepositModel(
            "W-polymetallic",
            MappingProxyType({
                "W": 60.0, "Sn": 25.0, "Bi": 30.0, "Mo": 15.0, "Ag": 8.0, "As": 3.0,
                "Pb": 2.0, "Cu": 1.5, "F": 1.5, "Be": 1.5, "B": 1.5, "Zn": 1.0, "Li": 1.0,
                "Sb": 1.0, "Cd": 1.0,
            }),
            p_granite_contact=0.8,
        ),
        DepositModel(
            "Au-orogenic",
            MappingProxyType({
                "Au": 40.0, "As": 15.0, "Sb": 8.0, "Hg": 4.0, "Ag": 3.0, "W": 2.0, "Bi": 2.0,
                "Cu": 0.5,
            }),
            p_granite_contact=0.15,
        ),
        DepositModel(
            "Pb-Zn-Ag",
            MappingProxyType({
                "Pb": 25.0, "Ag": 15.0, "Zn": 12.0, "Cd": 12.0, "As": 3.0, "Sb": 3.0, "Cu": 2.0,
                "Hg": 2.0, "Mn": 1.0, "Sn": 1.0,
            }),
            p_granite_contact=0.4,
        ),
        DepositModel(
            "Cu-Mo-porphyry",
            MappingProxyType({
                "Mo": 20.0, "Cu": 15.0, "Au": 4.0, "Ag": 4.0, "Bi": 2.0, "Pb": 2.0, "Zn": 1.5,
                "W": 1.5, "As": 1.5, "K2O": 0.3,
            }),
            p_granite_contact=0.6,
        ),
        DepositModel(
            "Sb-Hg",
            MappingProxyType({"Sb": 40.0, "Hg": 25.0, "As": 8.0, "Au": 2.0, "Ag": 1.0}),
            p_granite_contact=0.0,
        ),
        DepositModel(
            "REE-Nb",
            MappingProxyType({
                "La": 8.0, "Nb": 6.0, "Y": 5.0, "Th": 4.0, "U": 3.0, "Zr": 2.0, "P": 2.0,
                "F": 2.0, "Sr": 1.0,
            }),
            p_granite_contact=0.3,
        ),
        DepositModel(
            "Ni-Cu-Co",
            MappingProxyType({
                "Ni": 10.0, "Cu": 6.0, "Co": 5.0, "Cr": 3.0, "Au": 1.0, "MgO": 0.8,
            }),
            p_granite_contact=0.0,
            p_mafic=0.9,
        ),
    )
})

# size: (probability, amplitude multiplier, halo radius in m). Half the deposits are small,
# with halos near the noise level: that keeps the demo's AUC honest.
_SIZES = {"large": (0.15, 1.0, 2500.0), "medium": (0.35, 0.35, 1500.0),
          "small": (0.50, 0.12, 900.0)}
_AMPLITUDE_LOG_SD = 0.35  # deposit-to-deposit scatter of each element's amplitude
# Halos decay as exp(-(d / r)^2): clear over ~2 r, gone by ~3 r. An exponential tail would
# lift a large deposit's W by >10 % some 30 km away, which no regional survey shows.
_HALO_CUTOFF = 3.5  # in units of r; the kernel is below 5e-6 beyond


@dataclass(frozen=True)
class SynthPreset:
    """Parameters of a synthetic survey.

    Attributes
    ----------
    name
        Preset name.
    description
        One line for humans.
    n_samples
        Default number of samples.
    extent_m
        ``(xmin, ymin, xmax, ymax)`` in metres of ``crs``.
    crs
        CRS of the coordinates (``"EPSG:32650"``, ``"ESRI:102025"``).
    elements
        Default element symbols.
    n_deposits
        Known deposits (written to ``deposits.csv``).
    n_hidden_deposits
        Undiscovered deposits: halos in the data and the truth, not in ``deposits.csv``.
    deposit_models
        ``(model name, weight)`` pairs.
    n_granites, granite_radius_m
        Number of granite bodies and the range of their mean radii.
    n_mafic, mafic_radius_m
        Number of mafic bodies and the range of their mean radii.
    domain_edge_m
        Width of a domain's transition zone (10-90 %).
    lattice_m
        Spacing of the lattice the random fields and domains live on.
    factor_corr_m
        Correlation length of each shared factor field (``FACTOR_NAMES`` order).
    element_corr_m
        Correlation length of each element's own field.
    stream_fraction
        Share of samples placed along drainage-like lines (the rest uniform).
    duplicate_fraction
        Share of samples that are field duplicates of another sample's location.
    chunk_samples
        Samples per generated chunk (one Parquet row group each).
    fmt
        Default output format, ``"csv"`` or ``"parquet"``.
    """

    name: str
    description: str
    n_samples: int
    extent_m: tuple[float, float, float, float]
    crs: str
    elements: tuple[str, ...]
    n_deposits: int
    n_hidden_deposits: int
    deposit_models: tuple[tuple[str, float], ...]
    n_granites: int
    granite_radius_m: tuple[float, float]
    n_mafic: int
    mafic_radius_m: tuple[float, float]
    domain_edge_m: float
    lattice_m: float
    factor_corr_m: tuple[float, float, float, float]
    element_corr_m: float
    stream_fraction: float
    duplicate_fraction: float
    chunk_samples: int
    fmt: str

    @property
    def area_km2(self) -> float:
        """Area of the extent in km²."""
        xmin, ymin, xmax, ymax = self.extent_m
        return (xmax - xmin) * (ymax - ymin) / 1e6

    def grid_cells(self, cell_size_m: float = 500.0) -> int:
        """Number of cells of a grid of ``cell_size_m`` over the extent."""
        xmin, ymin, xmax, ymax = self.extent_m
        return math.ceil((xmax - xmin) / cell_size_m) * math.ceil((ymax - ymin) / cell_size_m)


PRESETS: Mapping[str, SynthPreset] = MappingProxyType({
    "demo": SynthPreset(
        name="demo",
        description="W-polymetallic district, south Jiangxi style: ~5,000 samples, "
        "100 x 100 km, 13 elements",
        n_samples=5_000,
        # UTM 50N, around 114.0-115.0 E, 24.4-25.3 N (Gannan W district)
        extent_m=(400_000.0, 2_700_000.0, 500_000.0, 2_800_000.0),
        crs="EPSG:32650",
        elements=_DEMO_ELEMENTS,
        n_deposits=20,
        n_hidden_deposits=3,
        deposit_models=(("W-polymetallic", 1.0),),
        n_granites=10,
        granite_radius_m=(4_000.0, 12_000.0),
        n_mafic=3,
        mafic_radius_m=(3_000.0, 7_000.0),
        domain_edge_m=600.0,
        lattice_m=250.0,
        factor_corr_m=(15_000.0, 8_000.0, 10_000.0, 5_000.0),
        element_corr_m=3_000.0,
        stream_fraction=0.7,
        duplicate_fraction=0.004,
        chunk_samples=100_000,
        fmt="csv",
    ),
    "national": SynthPreset(
        name="national",
        description="RGNR-like national reconnaissance: 1.5 M samples, 39 elements, "
        "3,100 x 3,100 km (38 M cells at 500 m)",
        n_samples=1_500_000,
        # Asia North Albers Equal Area: China spans roughly x -2,000..3,300 km,
        # y -1,300..2,300 km; this square covers its core.
        extent_m=(-750_000.0, -1_000_000.0, 2_350_000.0, 2_100_000.0),
        crs="ESRI:102025",
        elements=NATIONAL_ELEMENTS,
        n_deposits=3_000,
        n_hidden_deposits=300,
        deposit_models=(
            ("W-polymetallic", 0.30), ("Au-orogenic", 0.20), ("Pb-Zn-Ag", 0.15),
            ("Cu-Mo-porphyry", 0.12), ("Sb-Hg", 0.08), ("REE-Nb", 0.05), ("Ni-Cu-Co", 0.10),
        ),
        n_granites=900,
        granite_radius_m=(8_000.0, 40_000.0),
        n_mafic=700,
        mafic_radius_m=(5_000.0, 25_000.0),
        domain_edge_m=1_500.0,
        lattice_m=2_500.0,
        factor_corr_m=(250_000.0, 40_000.0, 60_000.0, 20_000.0),
        element_corr_m=12_000.0,
        stream_fraction=0.7,
        duplicate_fraction=0.004,
        chunk_samples=100_000,
        fmt="parquet",
    ),
})

_FORMATS = ("csv", "parquet")

# Independent random streams: changing how much one component draws (more elements, more
# samples) never shifts another component's numbers.
_STREAM_DOMAINS = 1
_STREAM_DEPOSITS = 2
_STREAM_FACTOR_FIELD = 3
_STREAM_ELEMENT_FIELD = 4
_STREAM_HALO_AMPLITUDE = 5
_STREAM_LOCATIONS = 6
_STREAM_VALUES = 7


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class SynthSurvey:
    """An in-memory synthetic survey.

    Attributes
    ----------
    table
        The survey as written: ``sample_id``, ``x``, ``y`` (metres of ``truth["crs"]``) and
        one ``<symbol>_<unit>`` column per element; censorable columns are text holding
        numbers and ``"<DL"``, missing cells are NaN.
    deposits
        Known deposits: ``deposit_id, x, y, type, size, setting``.
    truth
        Everything the generator used (see :func:`write_synthetic_survey`).
    """

    table: pd.DataFrame
    deposits: pd.DataFrame
    truth: dict[str, Any]

    @property
    def crs(self) -> str:
        """CRS of ``x``/``y``, e.g. ``"EPSG:32650"``."""
        return self.truth["crs"]


@dataclass(frozen=True)
class SynthOutputs:
    """Paths written by :func:`write_synthetic_survey`.

    Attributes
    ----------
    survey
        ``survey.csv`` or ``survey.parquet``.
    deposits
        ``deposits.csv``.
    truth
        ``truth.json``.
    crs
        CRS of the coordinates.
    n_samples
        Rows in the survey table.
    elements
        Element columns written.
    """

    survey: Path
    deposits: Path
    truth: Path
    crs: str
    n_samples: int
    elements: tuple[str, ...]

    def describe(self) -> str:
        """A few lines for the CLI to print."""
        return "\n".join([
            f"survey:   {self.survey} ({self.n_samples:,} samples, "
            f"{len(self.elements)} elements)",
            f"deposits: {self.deposits}",
            f"truth:    {self.truth}",
            f"CRS:      {self.crs}",
        ])


# ----------------------------------------------------------------------------- validation


def _resolve_preset(preset: str | SynthPreset) -> SynthPreset:
    if isinstance(preset, SynthPreset):
        return preset
    try:
        return PRESETS[preset]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown synthetic preset {preset!r}; choose one of {', '.join(PRESETS)}"
        ) from None


def _resolve_elements(elements: Sequence[str] | str | None, preset: SynthPreset
                      ) -> tuple[ElementSpec, ...]:
    if elements is None:
        names: Sequence[str] = preset.elements
    elif isinstance(elements, str):
        names = [name for name in elements.split(",") if name.strip()]
    else:
        names = list(elements)
    by_lower = {symbol.lower(): symbol for symbol in ELEMENTS}
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"element names must be strings, got {name!r}")
        # accept symbols ("W") and column names ("W_ppm"), any case
        key = name.strip().split("_")[0].lower()
        if key not in by_lower:
            raise ConfigError(
                f"unknown element {name.strip()!r}; the generator knows "
                f"{' '.join(ELEMENTS)}"
            )
        symbol = by_lower[key]
        if symbol not in chosen:
            chosen.append(symbol)
    if not chosen:
        raise ConfigError("no elements selected; give at least one, e.g. --elements W,Sn")
    return tuple(ELEMENTS[s] for s in chosen)


def _resolve_n_samples(n_samples: int | None, preset: SynthPreset) -> int:
    if n_samples is None:
        return preset.n_samples
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ConfigError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 1:
        raise ConfigError(f"n_samples must be at least 1, got {n_samples}")
    return int(n_samples)


def _resolve_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


# ----------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class _Lattice:
    x0: float
    y0: float
    spacing_m: float
    shape: tuple[int, int]  # (ny, nx)

    @classmethod
    def over(cls, extent_m: tuple[float, float, float, float], spacing_m: float) -> _Lattice:
        xmin, ymin, xmax, ymax = extent_m
        nx = math.ceil((xmax - xmin) / spacing_m) + 1
        ny = math.ceil((ymax - ymin) / spacing_m) + 1
        return cls(xmin, ymin, spacing_m, (ny, nx))

    def node_coords(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        ys = self.y0 + np.arange(rows.start, rows.stop) * self.spacing_m
        xs = self.x0 + np.arange(cols.start, cols.stop) * self.spacing_m
        return xs[None, :], ys[:, None]

    def sample(self, fields: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of ``fields`` (``(ny, nx)`` or ``(k, ny, nx)``) at points."""
        coords = np.stack([(y - self.y0) / self.spacing_m, (x - self.x0) / self.spacing_m])
        stack = fields[None] if fields.ndim == 2 else fields
        out = np.stack([
            ndimage.map_coordinates(f, coords, order=1, mode="nearest", prefilter=False)
            for f in stack
        ])
        return out[0] if fields.ndim == 2 else out


def _gaussian_field(rng: np.random.Generator, lattice: _Lattice, corr_m: float) -> np.ndarray:
    """Unit-variance stationary Gaussian random field on ``lattice`` (float32).

    Filtered white noise with a Matérn-like spectrum (smooth but not Gaussian-smooth, like
    geology). The FFT is periodic, so the lattice is padded by three correlation lengths on
    one side: the cropped field's opposite edges are then uncorrelated.
    """
    ny, nx = lattice.shape
    pad = min(int(3 * corr_m / lattice.spacing_m) + 1, max(ny, nx))
    shape = (sp_fft.next_fast_len(ny + pad, real=True),
             sp_fft.next_fast_len(nx + pad, real=True))
    noise = rng.standard_normal(shape, dtype=np.float32)
    spectrum = sp_fft.rfft2(noise)
    fy = sp_fft.fftfreq(shape[0], d=lattice.spacing_m).astype(np.float32)[:, None]
    fx = sp_fft.rfftfreq(shape[1], d=lattice.spacing_m).astype(np.float32)[None, :]
    k2l2 = np.float32((2 * np.pi * corr_m) ** 2) * (fx * fx + fy * fy)
    spectrum *= np.float32(1.0) / (np.float32(1.0) + k2l2)  # sqrt of 2-D Matérn (nu = 1) density
    field = sp_fft.irfft2(spectrum, s=shape)[:ny, :nx]
    field -= field.mean(dtype=np.float64)
    field /= field.std(dtype=np.float64)
    return np.ascontiguousarray(field, dtype=np.float32)


def _blob_radius(domain: Mapping[str, Any], theta: np.ndarray) -> np.ndarray:
    radius = np.ones_like(theta)
    for order, amplitude, phase in domain["harmonics"]:
        radius += amplitude * np.cos(order * theta + phase)
    return domain["radius_m"] * radius


def _make_domains(preset: SynthPreset, seed: int) -> list[dict[str, Any]]:
    rng = _rng(seed, _STREAM_DOMAINS)
    xmin, ymin, xmax, ymax = preset.extent_m
    domains = []
    for kind, count, (r_lo, r_hi), prefix in (
        ("granite", preset.n_granites, preset.granite_radius_m, "G"),
        ("mafic", preset.n_mafic, preset.mafic_radius_m, "M"),
    ):
        width = len(str(count))
        for i in range(count):
            # a few harmonics make irregular, plutons-like outlines; their amplitudes sum
            # to <= 0.3 so the outline stays within 0.7-1.3 x the mean radius
            harmonics = [
                [order, round(float(rng.uniform(0.0, 0.1)), 4),
                 round(float(rng.uniform(0.0, 2 * np.pi)), 4)]
                for order in (2, 3, 4)
            ]
            domains.append({
                "domain_id": f"{prefix}{i + 1:0{width}d}",
                "kind": kind,
                "x": round(float(rng.uniform(xmin, xmax))),
                "y": round(float(rng.uniform(ymin, ymax))),
                "radius_m": round(float(np.exp(rng.uniform(np.log(r_lo), np.log(r_hi))))),
                "harmonics": harmonics,
            })
    return domains


def _rasterise_domains(domains: Sequence[Mapping[str, Any]], kind: str, lattice: _Lattice,
                       edge_m: float) -> np.ndarray:
    """Membership weight in [0, 1] of ``kind`` domains on the lattice (max over bodies)."""
    weight = np.zeros(lattice.shape, dtype=np.float32)
    ny, nx = lattice.shape
    h = lattice.spacing_m
    # logistic scale such that the 10-90 % transition spans edge_m
    scale = edge_m / (2 * np.log(9.0))
    for dom in domains:
        if dom["kind"] != kind:
            continue
        reach = 1.3 * dom["radius_m"] + 3 * edge_m
        c0 = max(int((dom["x"] - reach - lattice.x0) // h), 0)
        c1 = min(int((dom["x"] + reach - lattice.x0) // h) + 2, nx)
        r0 = max(int((dom["y"] - reach - lattice.y0) // h), 0)
        r1 = min(int((dom["y"] + reach - lattice.y0) // h) + 2, ny)
        if c0 >= c1 or r0 >= r1:
            continue
        xs, ys = lattice.node_coords(slice(r0, r1), slice(c0, c1))
        dx, dy = xs - dom["x"], ys - dom["y"]
        r = np.hypot(dx, dy)
        w = special.expit((_blob_radius(dom, np.arctan2(dy, dx)) - r) / scale)
        np.maximum(weight[r0:r1, c0:c1], w.astype(np.float32), out=weight[r0:r1, c0:c1])
    return weight


def _make_halos(preset: SynthPreset, seed: int, domains: Sequence[Mapping[str, Any]]
                ) -> dict[str, np.ndarray]:
    """Deposit positions, types, sizes and halo geometry (element-independent)."""
    rng = _rng(seed, _STREAM_DEPOSITS)
    xmin, ymin, xmax, ymax = preset.extent_m
    margin = 1_000.0
    n_total = preset.n_deposits + preset.n_hidden_deposits
    model_names = [name for name, _ in preset.deposit_models]
    weights = np.array([w for _, w in preset.deposit_models], dtype=float)
    size_names = list(_SIZES)
    size_p = np.array([p for p, _, _ in _SIZES.values()])
    granites = [d for d in domains if d["kind"] == "granite"]
    mafics = [d for d in domains if d["kind"] == "mafic"]
    # larger plutons host more deposits
    granite_p = np.array([d["radius_m"] for d in granites], dtype=float)
    mafic_p = np.array([d["radius_m"] for d in mafics], dtype=float)

    def inside(x: float, y: float) -> bool:
        return xmin + margin <= x <= xmax - margin and ymin + margin <= y <= ymax - margin

    x = np.empty(n_total)
    y = np.empty(n_total)
    model = rng.choice(len(model_names), size=n_total, p=weights / weights.sum())
    size = rng.choice(len(size_names), size=n_total, p=size_p)
    setting = []
    for k in range(n_total):
        dm = DEPOSIT_MODELS[model_names[model[k]]]
        u = rng.random()
        where = "anywhere"
        if u < dm.p_granite_contact and granites:
            where = "granite_contact"
        elif u < dm.p_granite_contact + dm.p_mafic and mafics:
            where = "mafic"
        for _attempt in range(50):
            if where == "granite_contact":
                dom = granites[rng.choice(len(granites), p=granite_p / granite_p.sum())]
                theta = rng.uniform(0, 2 * np.pi)
                # mostly just outside the contact (exocontact veins and skarns)
                r = _blob_radius(dom, np.array(theta)) * (1.0 + rng.normal(0.05, 0.1))
                px, py = dom["x"] + r * np.cos(theta), dom["y"] + r * np.sin(theta)
            elif where == "mafic":
                dom = mafics[rng.choice(len(mafics), p=mafic_p / mafic_p.sum())]
                theta = rng.uniform(0, 2 * np.pi)
                r = _blob_radius(dom, np.array(theta)) * 0.8 * np.sqrt(rng.random())
                px, py = dom["x"] + r * np.cos(theta), dom["y"] + r * np.sin(theta)
            else:
                px, py = rng.uniform(xmin + margin, xmax - margin), rng.uniform(
                    ymin + margin, ymax - margin)
            if inside(float(px), float(py)):
                break
        else:  # a domain hugging the border: fall back to anywhere
            where = "anywhere"
            px = rng.uniform(xmin + margin, xmax - margin)
            py = rng.uniform(ymin + margin, ymax - margin)
        x[k], y[k] = round(float(px)), round(float(py))
        setting.append(where)
    radius = np.array([_SIZES[size_names[s]][2] for s in size]) * rng.uniform(0.8, 1.25, n_total)
    # halos stretch along drainage (dispersion trains): an ellipse of random orientation
    azimuth = rng.uniform(0.0, 180.0, n_total)
    aspect = rng.uniform(1.0, 2.5, n_total)
    hidden = np.zeros(n_total, dtype=bool)
    hidden[rng.choice(n_total, size=preset.n_hidden_deposits, replace=False)] = True
    return {
        "x": x, "y": y, "model": model, "size": size, "setting": np.array(setting),
        "radius_m": np.round(radius), "azimuth_deg": np.round(azimuth, 1),
        "aspect": np.round(aspect, 2), "hidden": hidden,
        "model_names": np.array(model_names), "size_names": np.array(size_names),
    }


def _halo_amplitudes(halos: Mapping[str, np.ndarray], spec: ElementSpec, seed: int
                     ) -> np.ndarray:
    """Peak enrichment of ``spec`` at each halo (0 where its model does not enrich it)."""
    rng = _rng(seed, _STREAM_HALO_AMPLITUDE, _ELEMENT_INDEX[spec.symbol])
    n = len(halos["x"])
    jitter = np.exp(rng.normal(0.0, _AMPLITUDE_LOG_SD, n))
    base = np.array([
        DEPOSIT_MODELS[str(halos["model_names"][m])].amplitudes.get(spec.symbol, 0.0)
        for m in halos["model"]
    ])
    size_mult = np.array([_SIZES[str(halos["size_names"][s])][1] for s in halos["size"]])
    return base * size_mult * jitter


def _is_text_column(spec: ElementSpec) -> bool:
    lowest = spec.median * min(spec.granite_factor, spec.mafic_factor, 1.0)
    sd = math.hypot(spec.log_sd, spec.analytical_rsd)
    z = (math.log(spec.detection_limit) - math.log(lowest)) / sd
    return float(special.ndtr(z)) > _TEXT_COLUMN_MIN_CENSORED


def _format_number(value: float) -> str:
    return format(value, "g")


class _Generator:
    """Holds the world (fields, domains, halos) and yields the survey chunk by chunk."""

    def __init__(self, preset: SynthPreset, elements: tuple[ElementSpec, ...], n_samples: int,
                 seed: int) -> None:
        self.preset = preset
        self.elements = elements
        self.n_samples = n_samples
        self.seed = seed
        self.lattice = _Lattice.over(preset.extent_m, preset.lattice_m)
        self.domains = _make_domains(preset, seed)
        self.granite = _rasterise_domains(self.domains, "granite", self.lattice,
                                          preset.domain_edge_m)
        self.mafic = _rasterise_domains(self.domains, "mafic", self.lattice,
                                        preset.domain_edge_m)
        self.factors = np.stack([
            _gaussian_field(_rng(seed, _STREAM_FACTOR_FIELD, k), self.lattice, corr)
            for k, corr in enumerate(preset.factor_corr_m)
        ])
        # filled in place: stacking a list would briefly hold every field twice
        self.own_fields = np.empty((len(elements), *self.lattice.shape), dtype=np.float32)
        for i, e in enumerate(elements):
            self.own_fields[i] = _gaussian_field(
                _rng(seed, _STREAM_ELEMENT_FIELD, _ELEMENT_INDEX[e.symbol]), self.lattice,
                preset.element_corr_m)
        self.halos = _make_halos(preset, seed, self.domains)
        self.amplitudes = np.stack([_halo_amplitudes(self.halos, e, seed) for e in elements])
        self.reach = np.array([e.halo_reach for e in elements])
        self.text_columns = tuple(_is_text_column(e) for e in elements)
        self.censored_counts = np.zeros(len(elements), dtype=np.int64)
        self.missing_counts = np.zeros(len(elements), dtype=np.int64)
        self.n_duplicates = 0
        self.id_width = max(6, len(str(n_samples)))
        mean_spacing_m = math.sqrt(preset.area_km2 * 1e6 / n_samples)
        self.stream_step_m = 0.4 * mean_spacing_m
        self.schema = pa.schema(
            [("sample_id", pa.string()), ("x", pa.float64()), ("y", pa.float64())]
            + [(e.column, pa.string() if text else pa.float64())
               for e, text in zip(elements, self.text_columns)]
        )

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_samples / self.preset.chunk_samples)

    def chunks(self) -> Iterator[pa.Table]:
        size = self.preset.chunk_samples
        for c in range(self.n_chunks):
            start = c * size
            yield self._chunk(c, start, min(size, self.n_samples - start))

    # -- locations

    def _locations(self, chunk: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = _rng(self.seed, _STREAM_LOCATIONS, chunk)
        xmin, ymin, xmax, ymax = self.preset.extent_m
        n_stream = int(round(self.preset.stream_fraction * n))
        # drainage-like lines: random walks with gently turning heading, 6-25 samples each
        lengths = rng.integers(6, 26, size=n_stream // 6 + 1)
        lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_stream) + 1]
        if len(lengths):
            lengths[-1] -= lengths.sum() - n_stream
        lengths = lengths[lengths > 0]
        group = np.repeat(np.arange(len(lengths)), lengths)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)

        def cumsum_in_group(values: np.ndarray) -> np.ndarray:
            total = np.cumsum(values)
            return total - np.repeat(total[first] - values[first], lengths)

        turn = rng.normal(0.0, 0.35, n_stream)
        turn[first] = 0.0
        heading = rng.uniform(0.0, 2 * np.pi, len(lengths))[group] + cumsum_in_group(turn)
        step = self.stream_step_m * rng.uniform(0.7, 1.3, n_stream)
        step[first] = 0.0
        x_stream = rng.uniform(xmin, xmax, len(lengths))[group] + cumsum_in_group(
            step * np.cos(heading))
        y_stream = rng.uniform(ymin, ymax, len(lengths))[group] + cumsum_in_group(
            step * np.sin(heading))
        jitter = 0.08 * self.stream_step_m
        x_stream += rng.normal(0.0, jitter, n_stream)
        y_stream += rng.normal(0.0, jitter, n_stream)
        n_uniform = n - n_stream
        x = np.concatenate([x_stream, rng.uniform(xmin, xmax, n_uniform)])
        y = np.concatenate([y_stream, rng.uniform(ymin, ymax, n_uniform)])
        x, y = _reflect(x, xmin, xmax), _reflect(y, ymin, ymax)
        order = rng.permutation(n)
        x = np.round(x[order], _COORD_DECIMALS)
        y = np.round(y[order], _COORD_DECIMALS)
        # field duplicates: a second sample taken at an existing site
        n_dup = int(round(self.preset.duplicate_fraction * n)) if n >= 2 else 0
        n_dup = min(n_dup, n // 2)
        if n_dup:
            picked = rng.choice(n, size=2 * n_dup, replace=False)
            source, copy = picked[:n_dup], picked[n_dup:]
            x[copy], y[copy] = x[source], y[source]
        self.n_duplicates += n_dup
        return x, y

    # -- halos

    def _halo_enrichment(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(n_elements, n)`` summed multiplicative enrichment minus one."""
        n = len(x)
        halos = self.halos
        enrichment = np.zeros((len(self.elements), n))
        active = self.amplitudes.max(axis=0) > 0
        if not active.any():
            return enrichment
        # catalogue-wide, not over the chosen elements: a subset must give identical sums
        reach_max = max(spec.halo_reach for spec in _CATALOGUE)
        hx, hy = halos["x"][active], halos["y"][active]
        radius = halos["radius_m"][active]
        aspect = halos["aspect"][active]
        cutoff = _HALO_CUTOFF * reach_max * radius * np.sqrt(aspect)
        neighbours = cKDTree(np.column_stack([x, y])).query_ball_point(
            np.column_stack([hx, hy]), r=cutoff)
        counts = np.fromiter((len(v) for v in neighbours), dtype=np.intp, count=len(hx))
        if counts.sum() == 0:
            return enrichment
        h = np.repeat(np.arange(len(hx)), counts)
        j = np.concatenate([np.asarray(v, dtype=np.intp) for v in neighbours])
        phi = np.deg2rad(halos["azimuth_deg"][active])[h]
        dx, dy = x[j] - hx[h], y[j] - hy[h]
        along = dx * np.cos(phi) + dy * np.sin(phi)
        across = -dx * np.sin(phi) + dy * np.cos(phi)
        a = aspect[h]
        scaled = np.sqrt(along * along / a + across * across * a) / radius[h]
        amps = self.amplitudes[:, active]
        for e, reach in enumerate(self.reach):
            ratio = scaled / reach
            weight = amps[e, h] * np.exp(-ratio * ratio)
            enrichment[e] = np.bincount(j, weights=weight, minlength=n)
        return enrichment

    # -- one chunk

    def _chunk(self, chunk: int, start: int, n: int) -> pa.Table:
        x, y = self._locations(chunk, n)
        factors = self.lattice.sample(self.factors, x, y).astype(np.float64)
        own = self.lattice.sample(self.own_fields, x, y).astype(np.float64)
        granite = self.lattice.sample(self.granite, x, y).astype(np.float64)
        mafic = self.lattice.sample(self.mafic, x, y).astype(np.float64)
        enrichment = self._halo_enrichment(x, y)
        columns: list[pa.Array] = [
            pa.array([f"S{i:0{self.id_width}d}" for i in range(start + 1, start + n + 1)],
                     type=pa.string()),
            pa.array(x), pa.array(y),
        ]
        for e, spec in enumerate(self.elements):
            rng = _rng(self.seed, _STREAM_VALUES, chunk, _ELEMENT_INDEX[spec.symbol])
            nugget = rng.standard_normal(n)
            analytical = rng.standard_normal(n)
            missing = rng.random(n) < spec.missing_fraction
            loadings = np.asarray(spec.loadings, dtype=float)
            norm = np.linalg.norm(loadings)
            if norm > 0:
                spatial = (math.sqrt(_SHARE_FACTORS) * (loadings / norm) @ factors
                           + math.sqrt(_SHARE_OWN_FIELD) * own[e])
            else:
                spatial = math.sqrt(_SHARE_FACTORS + _SHARE_OWN_FIELD) * own[e]
            log_value = (
                math.log(spec.median)
                + spec.log_sd * (spatial + math.sqrt(_SHARE_NUGGET) * nugget)
                + granite * math.log(spec.granite_factor)
                + mafic * math.log(spec.mafic_factor)
                + spec.analytical_rsd * analytical
            )
            value = np.exp(log_value) * (1.0 + enrichment[e])
            if spec.max_value is not None:
                value = np.minimum(value, spec.max_value)
            value = _round_significant(value, _SIGNIFICANT_DIGITS)
            censored = (value < spec.detection_limit) & ~missing
            self.missing_counts[e] += int(missing.sum())
            if self.text_columns[e]:
                self.censored_counts[e] += int(censored.sum())
                text = pc.cast(pa.array(value, mask=missing), pa.string())
                dl_text = pa.scalar(f"<{_format_number(spec.detection_limit)}")
                columns.append(pc.if_else(pa.array(censored), dl_text, text))
            else:
                columns.append(pa.array(value, mask=missing))
        return pa.Table.from_arrays(columns, schema=self.schema)

    # -- truth

    def deposits_table(self) -> pa.Table:
        halos = self.halos
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

    def truth(self) -> dict[str, Any]:
        preset = self.preset
        xmin, ymin, xmax, ymax = preset.extent_m
        n = self.n_samples
        elements = []
        for e, spec in enumerate(self.elements):
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
                "text_column": self.text_columns[e],
                "censored_fraction": round(float(self.censored_counts[e]) / n, 6),
                "missing_fraction": round(float(self.missing_counts[e]) / n, 6),
            })
        halos = self.halos
        known = ~halos["hidden"]
        width = max(4, len(str(int(known.sum()))))
        deposit_ids = iter(f"D{i + 1:0{width}d}" for i in range(int(known.sum())))
        halo_list = []
        for k in range(len(halos["x"])):
            amplitudes = {
                spec.symbol: float(f"{self.amplitudes[e, k]:.4g}")
                for e, spec in enumerate(self.elements) if self.amplitudes[e, k] > 0
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
        return {
            "generator": "geogan.synth",
            "preset": preset.name,
            "seed": self.seed,
            "crs": preset.crs,
            "extent": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
            "n_samples": n,
            "n_field_duplicates": self.n_duplicates,
            "columns": {"id": "sample_id", "x": "x", "y": "y"},
            "elements": elements,
            "model": {
                "value": "median * exp(log_sd * (factors + own field + nugget)) "
                         "* granite_factor^g * mafic_factor^m * exp(analytical) "
                         "* (1 + sum_halos amplitude * exp(-(d / (radius * reach))^2))",
                "factor_names": list(FACTOR_NAMES),
                "variance_shares": {"factors": _SHARE_FACTORS, "own_field": _SHARE_OWN_FIELD,
                                    "nugget": _SHARE_NUGGET},
                "factor_corr_m": list(preset.factor_corr_m),
                "element_corr_m": preset.element_corr_m,
                "lattice_m": preset.lattice_m,
                "domain_edge_m": preset.domain_edge_m,
                "significant_digits": _SIGNIFICANT_DIGITS,
                "halo_distance": "elliptical: d = sqrt(along^2 / aspect + across^2 * aspect), "
                                 "azimuth clockwise from +x towards +y",
                "sizes": {name: {"probability": p, "amplitude_multiplier": a,
                                 "radius_m": r} for name, (p, a, r) in _SIZES.items()},
            },
            "domains": self.domains,
            "halos": halo_list,
        }


def _reflect(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold coordinates back into ``[lo, hi]`` (keeps the density near the borders)."""
    width = hi - lo
    t = np.mod(values - lo, 2 * width)
    return lo + np.where(t > width, 2 * width - t, t)


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round positive values to ``digits`` significant figures, as laboratories report.

    Dividing an integer by an exact power of ten gives the double nearest to the decimal,
    so the written text is short (``1.83``, not ``1.8300000000000001``).
    """
    decimals = digits - 1 - np.floor(np.log10(values))
    scale = 10.0 ** np.abs(decimals)
    return np.where(decimals >= 0, np.round(values * scale) / scale,
                    np.round(values / scale) * scale)


# ----------------------------------------------------------------------------- public API


def make_survey(preset: str | SynthPreset = "demo", *, n_samples: int | None = None,
                elements: Sequence[str] | str | None = None, seed: int = 0) -> SynthSurvey:
    """Generate a synthetic survey in memory.

    Parameters
    ----------
    preset
        ``"demo"``, ``"national"`` (see :data:`PRESETS`) or a :class:`SynthPreset`.
    n_samples
        Number of samples; default the preset's. In memory this is limited to 1,000,000:
        use :func:`write_synthetic_survey` for the full national preset.
    elements
        Element symbols (``["W", "Sn"]``, column names such as ``"W_ppm"`` also work, or one
        comma-separated string); default the preset's. Values of an element do not depend on
        which other elements are chosen.
    seed
        Seed of every random draw; the same seed gives the same survey.

    Returns
    -------
    SynthSurvey
        ``.table`` (as it would be written), ``.deposits`` (known deposits), ``.truth``.

    Raises
    ------
    ConfigError
        Unknown preset or element, bad ``n_samples`` or ``seed``, or too many samples.
    """
    spec = _resolve_preset(preset)
    n = _resolve_n_samples(n_samples, spec)
    if n > 1_000_000:
        raise ConfigError(
            f"{n:,} samples is too many to hold in memory here; use "
            "write_synthetic_survey (geogan synth) which streams them to disk"
        )
    generator = _Generator(spec, _resolve_elements(elements, spec), n, _resolve_seed(seed))
    table = pa.concat_tables(list(generator.chunks()))
    return SynthSurvey(
        table=table.to_pandas(),
        deposits=generator.deposits_table().to_pandas(),
        truth=generator.truth(),
    )


@holds_output_lock("out_dir")
def write_synthetic_survey(out_dir: str | os.PathLike, preset: str | SynthPreset = "demo", *,
                           n_samples: int | None = None,
                           elements: Sequence[str] | str | None = None, seed: int = 0,
                           fmt: str | None = None, overwrite: bool = False,
                           progress: bool = False) -> SynthOutputs:
    """Generate a synthetic survey and write it to ``out_dir``.

    Samples are generated and written in chunks (one Parquet row group each), so memory does
    not grow with ``n_samples``. Files are written into a temporary directory beside
    ``out_dir`` and renamed at the end: an interrupted run leaves nothing that looks complete.

    Parameters
    ----------
    out_dir
        Output directory; created. It may exist only if empty, unless ``overwrite``.
    preset, n_samples, elements, seed
        As in :func:`make_survey` (no sample limit here).
    fmt
        ``"csv"`` or ``"parquet"`` for the survey table; default the preset's (demo: csv,
        national: parquet).
    overwrite
        Replace an existing non-empty ``out_dir``.
    progress
        Show a progress bar over chunks (on stderr).

    Returns
    -------
    SynthOutputs
        Paths of ``survey.csv``/``survey.parquet``, ``deposits.csv`` and ``truth.json``,
        and the CRS of the coordinates.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and is not an empty directory, and ``overwrite`` is false.
    ConfigError
        Unknown preset, element or format; bad ``n_samples`` or ``seed``.

    Notes
    -----
    ``truth.json`` holds: ``preset``, ``seed``, ``crs``, ``extent``, ``n_samples``,
    ``n_field_duplicates``, ``elements`` (column, unit, detection limit, background,
    domain factors, realised censored and missing fractions), ``model`` (the formula and its
    parameters), ``domains`` (id, kind, centre, mean radius, outline harmonics) and
    ``halos`` (every halo, including undiscovered deposits with ``known: false``: centre,
    type, size, radius, azimuth, aspect, per-element peak amplitudes).
    """
    spec = _resolve_preset(preset)
    n = _resolve_n_samples(n_samples, spec)
    chosen = _resolve_elements(elements, spec)
    seed = _resolve_seed(seed)
    fmt = spec.fmt if fmt is None else str(fmt).lower()
    if fmt not in _FORMATS:
        raise ConfigError(f"unknown survey format {fmt!r}; choose csv or parquet")
    out = Path(out_dir)
    _check_output(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    try:
        generator = _Generator(spec, chosen, n, seed)
        survey_name = f"survey.{fmt}"
        _write_survey(generator, partial / survey_name, fmt, progress=progress)
        _write_csv(generator.deposits_table(), partial / "deposits.csv")
        truth = generator.truth()
        (partial / "truth.json").write_text(json.dumps(truth, indent=1) + "\n",
                                            encoding="utf-8")
        _check_output(out, overwrite=overwrite)  # someone may have written meanwhile
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        elif out.exists() or out.is_symlink():
            out.unlink()
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return SynthOutputs(
        survey=out / survey_name,
        deposits=out / "deposits.csv",
        truth=out / "truth.json",
        crs=spec.crs,
        n_samples=n,
        elements=tuple(e.column for e in chosen),
    )


def _check_output(out: Path, *, overwrite: bool) -> None:
    if overwrite or not (out.exists() or out.is_symlink()):
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    raise OutputExistsError(
        "output exists and is not an empty directory; pass overwrite=True "
        "(--overwrite) or choose another directory",
        path=out,
    )


def _write_survey(generator: _Generator, path: Path, fmt: str, *, progress: bool) -> None:
    chunks = generator.chunks()
    if progress:
        chunks = _with_progress(chunks, generator.n_chunks, generator.n_samples)
    if fmt == "parquet":
        with pq.ParquetWriter(path, generator.schema, compression="zstd") as writer:
            for table in chunks:
                writer.write_table(table, row_group_size=max(len(table), 1))
        return
    with open(path, "wb") as sink:
        _write_csv_header(sink, generator.schema.names)
        with pa_csv.CSVWriter(sink, generator.schema, write_options=_CSV_OPTIONS) as writer:
            for table in chunks:
                writer.write_table(table)


# Arrow quotes every string and header when asked for "needed"; our strings never contain
# separators or quotes, so write them bare like a lab's CSV export (and the header by hand).
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def _write_csv_header(sink: Any, names: Sequence[str]) -> None:
    sink.write((",".join(names) + "\n").encode("utf-8"))


def _write_csv(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as sink:
        _write_csv_header(sink, table.schema.names)
        pa_csv.write_csv(table, sink, write_options=_CSV_OPTIONS)


def _with_progress(chunks: Iterator[pa.Table], n_chunks: int, n_samples: int
                   ) -> Iterator[pa.Table]:
    from rich.progress import Progress  # only when asked: rich is slow to import

    with Progress(transient=True) as bar:
        task = bar.add_task(f"synth {n_samples:,} samples", total=n_chunks)
        for table in chunks:
            yield table
            bar.advance(task)
