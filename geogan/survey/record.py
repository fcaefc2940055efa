"""The :class:`Survey` record: validated sample coordinates and concentrations, reprojected and summarised.

What lives here: :class:`Survey`, what :func:`geogan.survey.read.read_survey` returns, with
its reprojection (:meth:`Survey.to_crs`) and its human summary (:meth:`Survey.summary`).
What does not: reading and validating a table into one (:mod:`geogan.survey.read` and the
modules it names).

>>> import numpy as np
>>> survey = Survey(path="till.csv", x=np.array([400000.0]), y=np.array([7000000.0]), crs=None, elements=["Cu"],
...                 units={"Cu": "ppm"}, columns={"Cu": "Cu_ppm"}, values=np.array([[12.0]]),
...                 censored_fraction={"Cu": 0.0}, n_rows=1, n_merged=0, levelling=None, source_sha256="0" * 64,
...                 warnings=[])
>>> survey
Survey('till.csv', n_samples=1, n_rows=1, elements=['Cu'], crs=None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyproj

from geogan.errors import CRSError
from geogan.survey import levelling
from geogan.survey.coordinates import as_crs, crs_name

__all__ = ["Survey"]


@dataclass(eq=False)
class Survey:
    """A validated survey: sample coordinates and element concentrations.

    Made by :func:`~geogan.survey.read.read_survey`; each parameter is also an attribute of the same name.

    Parameters
    ----------
    path
        The file read.
    x, y
        float64 sample coordinates in :attr:`crs` (x = easting / longitude).
    crs
        CRS of the coordinates: ``input_crs`` when given, else the GeoPackage layer's,
        else EPSG:4326 for columns named lon/lat; ``None`` when unknown (the grid stage
        then takes the coordinates to be in the grid CRS).
    elements
        Element (or oxide) symbols in the order requested, e.g. ``["Au", "W", "Fe2O3"]``.
    units
        Symbol -> canonical unit (``ppm``, ``ppb``, ``ppt``, ``pct``).
    columns
        Symbol -> source column name.
    values
        ``(n_samples, n_elements)`` float64; NaN = missing; below-detection values already
        replaced by ``bdl_factor`` x detection limit.
    censored_fraction
        Per element, the fraction of present values (in the rows read) that were below
        the detection limit.
    n_rows
        Data rows read.
    n_merged
        Rows merged away by averaging samples at identical coordinates.
    levelling
        JSON-able record of what ``level_by`` did, or ``None``.
    source_sha256
        SHA-256 of the file's bytes.
    warnings
        Human-readable warnings (unknown detection limits, batch medians that differ,
        encodings guessed, ...). They are not raised as Python warnings.
    x_column, y_column
        Columns the coordinates came from (``"<geometry>"`` for GeoPackage points).
    missing_fraction
        Per element, the fraction of rows read with no value.

    Raises
    ------
    CRSError
        :meth:`to_crs`: the target CRS is invalid, or some points cannot be transformed into it.

    Examples
    --------
    >>> import os, tempfile
    >>> from geogan import read_survey
    >>> path = os.path.join(tempfile.mkdtemp(), "till.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y,Cu_ppm,Zr_ppm\\n400000,7000000,12,<5\\n400500,7000000,15,140\\n401000,7000000,,160\\n")
    >>> survey = read_survey(path, input_crs="EPSG:3067")
    >>> survey.n_samples, survey.elements, survey.crs.to_string()
    (3, ['Cu', 'Zr'], 'EPSG:3067')
    >>> survey.values.tolist()  # "<5": 0.5 x the detection limit; the empty cell: NaN
    [[12.0, 2.5], [15.0, 140.0], [nan, 160.0]]
    >>> round(survey.censored_fraction["Zr"], 3), round(survey.missing_fraction["Cu"], 3)
    (0.333, 0.333)
    >>> survey.to_crs("EPSG:4326").x.round(3).tolist()  # longitudes
    [25.018, 25.028, 25.038]
    """

    path: Path
    x: np.ndarray
    y: np.ndarray
    crs: pyproj.CRS | None
    elements: list[str]
    units: dict[str, str]
    columns: dict[str, str]
    values: np.ndarray
    censored_fraction: dict[str, float]
    n_rows: int
    n_merged: int
    levelling: dict | None
    source_sha256: str
    warnings: list[str]
    x_column: str = ""
    y_column: str = ""
    missing_fraction: dict[str, float] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        """Number of samples (after merging duplicates)."""
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        crs = None if self.crs is None else self.crs.to_string()
        return (
            f"Survey({str(self.path)!r}, n_samples={self.n_samples}, n_rows={self.n_rows}, "
            f"elements={self.elements}, crs={crs!r})"
        )

    def to_crs(self, crs) -> Survey:
        """Return the survey with coordinates reprojected to ``crs``.

        Parameters
        ----------
        crs
            Anything :meth:`pyproj.CRS.from_user_input` accepts (``"EPSG:3067"``, a
            :class:`pyproj.CRS`, WKT).

        Returns
        -------
        Survey
            A new survey (values shared, coordinates new). When :attr:`crs` is ``None``
            (input CRS unknown) the survey is returned unchanged: its coordinates are
            taken to be in ``crs`` already.

        Raises
        ------
        CRSError
            ``crs`` is invalid, or some points cannot be transformed into it.
        """
        if self.crs is None:
            return self
        target = as_crs(crs, what="target CRS")
        if target == self.crs:
            return self
        transformer = pyproj.Transformer.from_crs(self.crs, target, always_xy=True)
        x, y = transformer.transform(self.x, self.y, errcheck=False)
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CRSError(
                f"{int(bad.sum())} sample(s) cannot be transformed from "
                f"{crs_name(self.crs)} to {crs_name(target)}, the first at "
                f"({float(self.x[i])!r}, {float(self.y[i])!r}); check the input CRS or choose a grid CRS "
                "that covers the survey",
                path=self.path,
            )
        return replace(self, x=x, y=y, crs=target)

    def summary(self) -> str:
        """Multi-line human summary of what was read and done.

        Returns
        -------
        str
            Rows read, samples after merging, coordinate columns and CRS, one line per
            element (unit, source column, censored %, missing %, median), the levelling
            (batch medians before and after) and the warnings.
        """
        crs = "unknown (taken to be the grid CRS)" if self.crs is None else crs_name(self.crs)
        lines = [
            f"survey {self.path} (sha256 {self.source_sha256[:12]})",
            f"  rows read: {self.n_rows}; samples: {self.n_samples}"
            + (
                f" ({self.n_merged} rows merged into samples at identical coordinates)"
                if self.n_merged
                else ""
            ),
            f"  coordinates: {self.x_column}, {self.y_column}; CRS {crs}",
            f"  elements ({len(self.elements)}):",
        ]
        width = max((len(e) for e in self.elements), default=2)
        for j, element in enumerate(self.elements):
            column = self.values[:, j]
            median = float(np.nanmedian(column)) if np.isfinite(column).any() else math.nan
            lines.append(
                f"    {element:<{width}} {self.units[element]:<4} "
                f"{self.columns[element]!r:<22} censored {100 * self.censored_fraction[element]:5.1f}%  "
                f"missing {100 * self.missing_fraction.get(element, math.nan):5.1f}%  "
                f"median {median:.4g}"
            )
        if self.levelling is not None:
            lines.extend(levelling.describe_levelling(self.levelling))
        if self.warnings:
            lines.append(f"  warnings ({len(self.warnings)}):")
            lines.extend(f"    - {w}" for w in self.warnings)
        return "\n".join(lines)
