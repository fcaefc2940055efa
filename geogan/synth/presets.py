"""Survey presets of the synthetic-survey generator, and their option checks.

What lives here: :class:`SynthPreset` and :data:`PRESETS` (``demo``, ``national``) with
their element sets, the black shales' shift of the background (:data:`SHALE_FACTORS`), and
the checks that turn user options (preset, elements, sample count, seed) into these objects
(``resolve_*``, raising :class:`ConfigError`). What does not: the deposit types and sizes a
preset chooses among (:mod:`geogan.synth.deposits`), per-element parameters
(:mod:`geogan.synth.elements`), generating anything (:mod:`geogan.synth.fields`,
:mod:`geogan.synth.generator`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from geogan.errors import ConfigError
from geogan.synth.elements import ELEMENTS, ElementSpec

#: The 39 elements of China's Regional Geochemistry-National Reconnaissance (RGNR) programme.
NATIONAL_ELEMENTS = (
    "Ag", "As", "Au", "B", "Ba", "Be", "Bi", "Cd", "Co", "Cr", "Cu", "F", "Hg", "La", "Li",
    "Mn", "Mo", "Nb", "Ni", "P", "Pb", "Sb", "Sn", "Sr", "Th", "Ti", "U", "V", "W", "Y", "Zn",
    "Zr", "SiO2", "Al2O3", "Fe2O3", "K2O", "Na2O", "CaO", "MgO",
)

_DEMO_ELEMENTS = (
    "W", "Sn", "Mo", "Bi", "Ag", "Au", "Cu", "Pb", "Zn", "As", "Cr", "Fe2O3", "K2O", "Ni", "Co",
)

#: Multiplicative shift of the background inside black-shale domains (carbonaceous, sulphidic
#: shales such as the Lower Cambrian Ni-Mo-V black shales of South China): a lithological
#: high in Mo and Ag, two of the W-polymetallic pathfinders, with no deposit under it.
SHALE_FACTORS: Mapping[str, float] = MappingProxyType({
    "Mo": 6.0, "Ag": 3.0, "V": 2.5, "Ni": 2.5, "U": 3.0, "Zn": 2.0, "Cd": 2.5, "Cu": 1.6,
    "Ba": 1.5, "Sb": 1.5, "As": 1.5,
})


@dataclass(frozen=True)
class SynthPreset:
    """Parameters of a synthetic survey.

    The built-in presets are :data:`PRESETS` (``demo``, ``national``); any preset can be
    given to :func:`~geogan.synth.make_survey` and :func:`~geogan.synth.write_synthetic_survey`.
    Each parameter is also an attribute of the same name.

    Parameters
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
    n_shale, shale_radius_m
        Number of black-shale bodies (:data:`SHALE_FACTORS`) and the range of their mean radii.
    lab_sheets, sheet_m, lab_bias
        Map sheets (squares of ``sheet_m``) whose samples a second laboratory analysed, and
        its multiplicative bias per element; 0 sheets: one laboratory, no ``lab`` column.
    spike_fraction, spike_factor
        Share of samples with one trace element (ppm, ppb) multiplied by a factor drawn
        log-uniformly from ``spike_factor`` (contamination, a nugget, a transcription error):
        single-sample highs.

    Raises
    ------
    ConfigError
        Not raised on construction (the fields are not checked): :func:`~geogan.synth.make_survey`
        and :func:`~geogan.synth.write_synthetic_survey` raise it for a preset whose
        ``elements`` are unknown, and the latter for a ``fmt`` other than csv or parquet.

    Examples
    --------
    >>> import dataclasses
    >>> from geogan.synth import PRESETS, make_survey
    >>> demo = PRESETS["demo"]
    >>> demo.n_samples, demo.crs, demo.area_km2, demo.grid_cells(1000)
    (5000, 'EPSG:32650', 10000.0, 10000)
    >>> small = dataclasses.replace(demo, name="small", n_deposits=5, n_hidden_deposits=0)
    >>> len(make_survey(small, n_samples=200, elements=["W"]).deposits)
    5
    >>> make_survey(dataclasses.replace(demo, elements=("W", "Kryptonite")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogan.errors.ConfigError: unknown element 'Kryptonite'; the generator knows ...
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
    n_shale: int = 0
    shale_radius_m: tuple[float, float] = (5_000.0, 10_000.0)
    lab_sheets: int = 0
    sheet_m: float = 25_000.0
    lab_bias: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    spike_fraction: float = 0.0
    spike_factor: tuple[float, float] = (20.0, 200.0)

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
        "100 x 100 km, 15 elements, with anomalies unrelated to W (mafic Ni-Co-Cr, black "
        "shale Mo-Ag-Ni, a laboratory's biased batch, single-sample spikes)",
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
        # the traps: anomalies a W explorer must not chase
        n_shale=2,
        shale_radius_m=(5_000.0, 9_000.0),
        lab_sheets=2,
        lab_bias=MappingProxyType({"Ag": 2.2, "Bi": 1.8, "Sn": 1.6, "Mo": 1.5, "Au": 1.5}),
        spike_fraction=0.01,
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

# ----------------------------------------------------------------------------- validation


def resolve_preset(preset: str | SynthPreset) -> SynthPreset:
    """The preset named ``preset`` (or ``preset`` itself); :class:`ConfigError` if unknown.

    >>> resolve_preset("demo").crs
    'EPSG:32650'
    """
    if isinstance(preset, SynthPreset):
        return preset
    try:
        return PRESETS[preset]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown synthetic preset {preset!r}; choose one of {', '.join(PRESETS)}"
        ) from None


def resolve_elements(elements: Sequence[str] | str | None, preset: SynthPreset
                     ) -> tuple[ElementSpec, ...]:
    """The chosen elements' specs, in the order given, without repeats (default: the preset's).

    Symbols and column names in any case, or one comma-separated string; :class:`ConfigError`
    for an unknown element or none at all.

    >>> [e.column for e in resolve_elements("sn_ppm,W,w", PRESETS["demo"])]
    ['Sn_ppm', 'W_ppm']
    """
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


#: the most samples a synthetic survey may have: ~67 × the national preset, ~20 GB of CSV
MAX_SAMPLES = 100_000_000


def resolve_n_samples(n_samples: int | None, preset: SynthPreset) -> int:
    """``n_samples`` as an int (default: the preset's); :class:`ConfigError` unless >= 1."""
    if n_samples is None:
        return preset.n_samples
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ConfigError(f"n_samples must be an integer, got {n_samples!r}")
    if not 1 <= n_samples <= MAX_SAMPLES:
        raise ConfigError(f"n_samples must be from 1 to {MAX_SAMPLES:,} (the national preset has 1.5 M), "
                          f"got {n_samples}")
    return int(n_samples)


def resolve_seed(seed: int) -> int:
    """``seed`` as an int; :class:`ConfigError` unless a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**31 - 1:
        raise ConfigError(f"seed must be an integer from 0 to 2,147,483,647, got {seed!r}")
    return int(seed)

