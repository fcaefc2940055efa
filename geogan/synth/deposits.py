"""The deposit types of the synthetic world: their halos, where they sit, and their sizes.

What lives here: :class:`DepositModel` and :data:`DEPOSIT_MODELS` (the deposit types, keyed
by name: each element's peak enrichment, and the odds of a granite contact or a mafic host)
and :data:`DEPOSIT_SIZES` (each size's probability, amplitude multiplier and halo radius).
What does not: the presets that choose among them (:mod:`geogan.synth.presets`), placing the
deposits and their halos (:mod:`geogan.synth.fields`).

>>> sorted(DEPOSIT_SIZES)
['large', 'medium', 'small']
>>> round(sum(p for p, _, _ in DEPOSIT_SIZES.values()), 6)
1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEPOSIT_MODELS", "DEPOSIT_SIZES", "DepositModel"]


@dataclass(frozen=True)
class DepositModel:
    """A deposit type: its halo and where it tends to sit.

    The generator's deposit types are :data:`DEPOSIT_MODELS`, keyed by ``name``. Each
    parameter is also an attribute of the same name.

    Parameters
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

    Raises
    ------
    KeyError
        The record checks nothing; the generator looks a preset's ``deposit_models`` up by
        name in :data:`DEPOSIT_MODELS`, so a type not registered there fails with a
        ``KeyError`` when a survey is generated.

    Examples
    --------
    >>> from geogan.synth import DEPOSIT_MODELS
    >>> list(DEPOSIT_MODELS)[:3]
    ['W-polymetallic', 'Au-orogenic', 'Pb-Zn-Ag']
    >>> model = DEPOSIT_MODELS["W-polymetallic"]
    >>> model.amplitudes["W"], model.p_granite_contact, model.p_mafic
    (60.0, 0.8, 0.0)
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


#: Deposit sizes: ``(probability, amplitude multiplier, halo radius in m)``. Half the deposits
#: are small, with halos near the noise level: that keeps the demo's AUC honest.
DEPOSIT_SIZES: Mapping[str, tuple[float, float, float]] = MappingProxyType({
    "large": (0.15, 1.0, 2500.0), "medium": (0.35, 0.35, 1500.0), "small": (0.50, 0.12, 900.0),
})
