"""The element catalogue of the synthetic-survey generator: how each element is modelled.

What lives here: :class:`ElementSpec` (background, detection limit, factor loadings, domain
factors, halo reach, noise of one element), the catalogue of every element the generator knows
(:data:`ELEMENTS`, with :data:`ELEMENT_INDEX`, each element's random-stream key) and the names
of the shared factor fields. What does not: deposit models, presets and option checks
(:mod:`geogan.synth.presets`), anything random (:mod:`geogan.synth.fields`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Names of the latent factor fields shared between elements (order of ``loadings``).
FACTOR_NAMES = ("felsic", "ferromagnesian", "carbonate", "chalcophile")


@dataclass(frozen=True)
class ElementSpec:
    """How one element is modelled.

    The generator's catalogue, :data:`ELEMENTS`, holds one per element it knows. Each
    parameter is also an attribute of the same name; :attr:`column` is ``<symbol>_<unit>``.

    Parameters
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

    Raises
    ------
    ConfigError
        Not raised by the record, which checks nothing: :func:`~geogan.synth.make_survey` and
        :func:`~geogan.synth.write_synthetic_survey` raise it for an element symbol that is
        not in :data:`ELEMENTS`.

    Examples
    --------
    >>> from geogan.synth import ELEMENTS
    >>> w = ELEMENTS["W"]
    >>> w.column, w.unit, w.detection_limit
    ('W_ppm', 'ppm', 0.5)
    >>> "Fe2O3" in ELEMENTS, "Kryptonite" in ELEMENTS
    (True, False)
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
#: Each element's position in the catalogue: its key in the random streams
#: (:func:`geogan.synth.fields.random_stream`), whatever subset of elements is generated.
ELEMENT_INDEX: Mapping[str, int] = MappingProxyType({e.symbol: i for i, e in enumerate(_CATALOGUE)})
