"""Reading the synthetic surveys' tables (tests/synth)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the national preset's 39 elements, in the order of China's RGNR programme
RGNR_39 = (
    "Ag As Au B Ba Be Bi Cd Co Cr Cu F Hg La Li Mn Mo Nb Ni P Pb Sb Sn Sr Th Ti U V W Y Zn Zr "
    "SiO2 Al2O3 Fe2O3 K2O Na2O CaO MgO"
).split()


def numeric(column: pd.Series) -> np.ndarray:
    """Measured values; censored (``<DL``) and missing cells as NaN."""
    text = column.astype("str")
    values = pd.to_numeric(text.where(~text.str.startswith("<")), errors="coerce")
    return values.to_numpy(dtype=float)


def element_columns(table: pd.DataFrame) -> list[str]:
    """The element columns of a synthetic survey table (all but the id, coordinates and laboratory)."""
    return [c for c in table.columns if c not in ("sample_id", "x", "y", "lab")]
