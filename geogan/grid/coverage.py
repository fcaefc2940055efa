"""Coverage: which grid cells have which elements, and so which cells a model can score.

Compilations are patchworks (each campaign analysed its own element list), so the cells
valid for *every* chosen element can be a small part of the grid. :func:`grid_coverage`
counts, tile by tile, the cells valid per element, for all elements, and for all elements
but one (what dropping that element would give back); :meth:`Coverage.warnings` names an
element that cuts the all-element coverage by more than a third, or, when none does alone
(elements absent together), the least covered elements when the all-element coverage is
below two thirds of the best covered element's. ``geogan grid`` stores
the result in the grid's ``coverage`` attribute and prints it; ``geogan info``, ``train``
and ``score`` print the part that concerns them.

>>> import numpy as np
>>> conc = np.ones((3, 2, 2)); conc[2, 0, :] = np.nan   # element 2 missing on the top row
>>> cov = Coverage.from_counts(["Au", "As", "Sb"], [_tile_counts(conc)])
>>> cov.fraction_all, cov.fraction_without("Sb")
(0.5, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: an element is named when leaving it out would raise the all-element coverage by more than this
CUT_WARNING = 1 / 3


def _tile_counts(conc: np.ndarray) -> dict:
    """Counts for one tile ``(element, y, x)``: cells with any element, per element, all, all but one."""
    valid = np.isfinite(conc)
    n_missing = (~valid).sum(axis=0)
    any_valid = n_missing < conc.shape[0]
    return {"any": int(any_valid.sum()), "cells": int(n_missing.size),
            "valid": valid.reshape(conc.shape[0], -1).sum(axis=1).astype(np.int64),
            "all": int((n_missing == 0).sum()),
            # all but element e: complete, or missing exactly e
            "all_but": ((n_missing == 0)[None] | ((n_missing == 1)[None] & ~valid)).reshape(conc.shape[0], -1)
            .sum(axis=1).astype(np.int64),
            "n_valid_hist": np.bincount((conc.shape[0] - n_missing).ravel(), minlength=conc.shape[0] + 1)}


@dataclass(frozen=True)
class Coverage:
    """Cell counts of one grid for a list of elements.

    ``n_data`` cells hold at least one of the elements (the grid's footprint); fractions are
    of those. ``by_count[k]`` is the number of cells with exactly ``k`` of the elements.
    """

    elements: list[str]
    n_cells: int
    n_data: int
    valid: dict[str, int]
    n_all: int
    all_but: dict[str, int]
    by_count: list[int]

    @classmethod
    def from_counts(cls, elements: list[str], parts: list[dict]) -> Coverage:
        total = lambda key: sum(p[key] for p in parts)  # noqa: E731
        valid = np.sum([p["valid"] for p in parts], axis=0)
        all_but = np.sum([p["all_but"] for p in parts], axis=0)
        hist = np.sum([p["n_valid_hist"] for p in parts], axis=0)
        return cls(elements=list(elements), n_cells=total("cells"), n_data=total("any"),
                   valid={e: int(v) for e, v in zip(elements, valid)}, n_all=total("all"),
                   all_but={e: int(v) for e, v in zip(elements, all_but)}, by_count=[int(h) for h in hist])

    def _frac(self, n: int) -> float:
        return n / self.n_data if self.n_data else 0.0

    @property
    def fraction_all(self) -> float:
        """Share of the footprint valid for every element: what a model on all of them scores."""
        return self._frac(self.n_all)

    def fraction_valid(self, element: str) -> float:
        return self._frac(self.valid[element])

    def fraction_without(self, element: str) -> float:
        """Share valid for every element but ``element``."""
        return self._frac(self.all_but[element])

    def cells_with_at_least(self, k: int) -> int:
        """Cells holding at least ``k`` of the elements."""
        return int(sum(self.by_count[max(k, 1):]))

    def warnings(self, cut: float = CUT_WARNING) -> list[str]:
        """One line per element whose absence in places cuts the all-element coverage by more
        than ``cut`` (a third) of what the other elements alone cover."""
        out = []
        for e in self.elements:
            without = self.fraction_without(e)
            if len(self.elements) > 1 and without > 0 and self.fraction_all < (1 - cut) * without:
                out.append(f"{e} is present on {100 * self.fraction_valid(e):.0f} % of the cells with data, so the "
                           f"cells valid for all {len(self.elements)} elements are {100 * self.fraction_all:.0f} % "
                           f"of them; without {e}: {100 * without:.0f} % (drop it with --elements, or score "
                           f"with --min-elements)")
        if out or len(self.elements) < 2:
            return out
        # elements absent together (Sb and Bi on the same samples): leaving out one gives nothing
        # back, so the rule above is silent; compare with the best single element instead
        best = max(self.fraction_valid(e) for e in self.elements)
        if best > 0 and self.fraction_all < (1 - cut) * best:
            worst = sorted(self.elements, key=self.fraction_valid)
            low = [e for e in worst if self.fraction_valid(e) < (1 - cut) * best] or worst[:2]
            out.append(f"the cells valid for all {len(self.elements)} elements are {100 * self.fraction_all:.0f} % of "
                       f"the cells with data, against {100 * best:.0f} % for the best covered element; least "
                       f"covered: " + ", ".join(f"{e} {100 * self.fraction_valid(e):.0f} %" for e in low[:5])
                       + " (drop them with --elements, or score with --min-elements)")
        return out

    def describe(self) -> str:
        footprint = 100 * self.n_data / max(self.n_cells, 1)
        lines = [f"coverage: {self.n_data:,} cells hold data ({footprint:.0f} % of the grid); valid for all "
                 f"{len(self.elements)} elements: {self.n_all:,} ({100 * self.fraction_all:.1f} %)"]
        lines.append("  per element: " + ", ".join(f"{e} {100 * self.fraction_valid(e):.1f} %"
                                                  for e in self.elements))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"elements": self.elements, "n_cells": self.n_cells, "n_data": self.n_data, "valid": self.valid,
                "n_all": self.n_all, "all_but": self.all_but, "by_count": self.by_count}

    @classmethod
    def from_dict(cls, d: dict) -> Coverage:
        return cls(**{k: d[k] for k in ("elements", "n_cells", "n_data", "valid", "n_all", "all_but", "by_count")})


def grid_coverage(ds, elements: list[str] | None = None) -> Coverage:
    """Count a grid store's coverage for ``elements`` (default all), reading it tile by tile."""
    from geogan.stores.geometry import grid_spec
    from geogan.stores.layout import iter_regions

    spec = grid_spec(ds)
    names = [str(e) for e in ds["element"].values]
    elements = names if elements is None else list(elements)
    index = [names.index(e) for e in elements]
    conc = ds["concentration"]
    parts = []
    for _, (rows, cols) in iter_regions(spec, spec.tiles()):
        block = np.asarray(conc.isel(y=rows, x=cols).values)[index]
        parts.append(_tile_counts(block))
    return Coverage.from_counts(elements, parts)


def coverage_attr(ds) -> Coverage | None:
    """The coverage ``geogan grid`` stored in a grid's ``coverage`` attribute (all its
    elements), or None (older stores, imported rasters)."""
    import json

    stored = ds.attrs.get("coverage")
    if isinstance(stored, str):  # nested attributes may be stored as JSON text
        stored = json.loads(stored)
    try:
        return Coverage.from_dict(stored) if isinstance(stored, dict) else None
    except (KeyError, TypeError):  # an older or damaged attribute
        return None


def coverage_of(ds, elements: list[str] | None = None) -> Coverage:
    """The coverage of a grid store for ``elements``: the stored one when it is for the
    same elements, else counted afresh (one read of the grid)."""
    stored = coverage_attr(ds)
    if stored is not None and (elements is None or list(elements) == stored.elements):
        return stored
    return grid_coverage(ds, elements)
