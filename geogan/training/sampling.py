"""Drawing grid cells: a uniform random sample of valid cells, and the cells holding deposits.

What lives here: :func:`sample_cells` (the training/test sample, drawn chunk by chunk) and
:func:`deposit_cells` (deposit cells for label-informed monitoring), both returning raw
concentrations in the elements' order with their grid positions. What does not: splitting,
transforming or fitting (:mod:`geogan.training.stage`), reading deposit files
(:mod:`geogan.evaluation.deposits`), the store layout (:mod:`geogan.stores.store`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geogan.errors import InputError


@dataclass
class CellSample:
    """Cells drawn from a grid: raw values in the elements' order and their grid position."""

    values: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    n_valid: int


def _valid_mask(block: np.ndarray, index: list[int]) -> np.ndarray:
    return np.isfinite(block[index]).all(axis=0)


def _count_valid(block: np.ndarray, index: list[int]) -> int:
    return int(_valid_mask(block, index).sum())


def _draw_in_block(block: np.ndarray, index: list[int], k: int, seed: tuple[int, ...]):
    mask = _valid_mask(block, index)
    r, c = np.nonzero(mask)
    pick = np.sort(np.random.default_rng(list(seed)).choice(r.size, size=k, replace=False))
    r, c = r[pick], c[pick]
    return block[index][:, r, c].T.astype(np.float32), r, c


def sample_cells(ds, elements: list[str], n: int, *, seed: int) -> CellSample:
    """Draw ``n`` cells uniformly at random among the valid cells (no selected element NaN).

    Two passes over the chunks, never more than a few chunks in memory: count the valid
    cells per chunk, split ``n`` across chunks by a multivariate hypergeometric draw (which
    makes the whole sample uniform without replacement), draw within each chunk. The result
    depends only on the grid, ``elements``, ``n`` and ``seed``. Returns all valid cells when
    there are at most ``n``. A chunk that cannot be read (damaged) is a
    :class:`~geogan.errors.StoreError` naming the store and the tile.
    """
    import dask

    from geogan.stores.store import tile_read_error

    data = ds["concentration"].data
    all_elements = [str(e) for e in ds["element"].values]
    index = [all_elements.index(e) for e in elements]
    row_chunks, col_chunks = data.chunks[1], data.chunks[2]
    row_starts = np.concatenate([[0], np.cumsum(row_chunks)])
    col_starts = np.concatenate([[0], np.cumsum(col_chunks)])
    blocks = [(i, j) for i in range(len(row_chunks)) for j in range(len(col_chunks))]

    def part(i, j):
        # read here (not as a dask dependency of the task) so that a failure names the tile
        try:
            return data[:, row_starts[i]:row_starts[i + 1], col_starts[j]:col_starts[j + 1]].compute(
                scheduler="synchronous")
        except MemoryError:
            raise
        except Exception as exc:  # Zarr/Blosc raise many kinds on a damaged chunk
            raise tile_read_error(ds.encoding.get("source", "the grid store"), i, j, exc) from None

    def count(i, j):
        return _count_valid(part(i, j), index)

    def draw(i, j, k):
        return _draw_in_block(part(i, j), index, k, (seed, i, j))

    counts = np.array(dask.compute(*[dask.delayed(count)(i, j) for i, j in blocks], scheduler="threads"),
                      dtype=np.int64)
    n_valid = int(counts.sum())
    if n_valid == 0:
        raise InputError(f"the grid has no cell where all of {', '.join(elements)} have values")
    rng = np.random.default_rng(seed)
    take = counts if n >= n_valid else rng.multivariate_hypergeometric(counts, n)
    tasks = [dask.delayed(draw)(i, j, int(k)) for (i, j), k in zip(blocks, take) if k > 0]
    drawn = dask.compute(*tasks, scheduler="threads")
    values, rows, cols = [], [], []
    for ((i, j), k), (v, r, c) in zip([(b, k) for b, k in zip(blocks, take) if k > 0], drawn):
        values.append(v)
        rows.append(r + row_starts[i])
        cols.append(c + col_starts[j])
    order = rng.permutation(int(take.sum()))  # chunk order → random order before the split
    return CellSample(values=np.concatenate(values)[order], rows=np.concatenate(rows)[order].astype(np.int64),
                      cols=np.concatenate(cols)[order].astype(np.int64), n_valid=n_valid)


# -- deposits (label-informed monitoring only) ---------------------------------------------------------
def deposit_cells(ds, deposits, elements: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw values and (row, col) of the valid grid cells holding ≥ 1 deposit (each once).

    For label-informed monitoring only (:func:`geogan.training.stage.train_model`'s ``deposits``):
    the cells are scored against the test cells and never used for training. ``deposits`` is a
    :class:`~geogan.evaluation.deposits.Deposits` in the grid's CRS. Raises
    :class:`~geogan.errors.InputError` when no deposit falls on a valid cell.
    """
    from geogan.stores.geometry import grid_spec

    spec = grid_spec(ds)
    row, col, inside = spec.cell_of(deposits.x, deposits.y)
    cells = sorted(set(zip(row[inside].tolist(), col[inside].tolist())))
    if not cells:
        raise InputError("no deposit falls inside the grid; label-informed AUC cannot be computed",
                         path=deposits.path)
    import xarray as xr

    r = xr.DataArray([c[0] for c in cells], dims="cell")
    c = xr.DataArray([c[1] for c in cells], dims="cell")
    vals = ds["concentration"].sel(element=elements).isel(y=r, x=c).transpose("cell", "element").values
    ok = np.isfinite(vals).all(axis=1)
    if not ok.any():
        raise InputError("every deposit cell lacks a value for some element; label-informed AUC cannot be "
                         "computed", path=deposits.path)
    rc = np.array(cells, dtype=np.int64)[ok]
    return vals[ok].astype(np.float32), rc[:, 0], rc[:, 1]


__all__ = ["CellSample", "deposit_cells", "sample_cells"]
