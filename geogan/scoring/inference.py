"""What the score stage runs on the workers: one model per worker process, blocks and tiles.

What lives here: loading the model once per worker process (keyed by the model dir and its
:func:`model_token`; TensorFlow is started only for neural detectors), scoring an
``(element, y, x)`` block (:func:`score_block`), its per-element contributions
(:func:`contribution_block`), and :func:`score_tile`, the task that reads one tile of the
grid, scores it and writes it into the staged scores store. What does not: creating the
stores, resuming, the COG and the report (:mod:`geogan.scoring.stage`).
"""

from __future__ import annotations

import os

import numpy as np

from geogan.stores import layout, store
from geogan._tf import tensorflow
from geogan.cluster import worker_cached
from geogan.gridspec import GridSpec
from geogan.stores.remote import is_remote
from geogan.stores.scores import contributions_stage
from geogan.stores.staging import Staging


def model_token(model_dir: str) -> str:
    """What identifies a model directory's version in the workers' caches (its config's mtime and
    size; for a model in object storage, its config's SHA-256)."""
    from geogan.detectors.modelfile import local_model, remote_config

    if is_remote(model_dir):
        import hashlib

        return "sha256-" + hashlib.sha256(remote_config(model_dir)).hexdigest()[:32]
    with local_model(model_dir) as local:  # a file:// URL: its path
        st = (local / "config.json").stat()
    return f"{st.st_mtime_ns}-{st.st_size}"


def _worker_threads(tf) -> None:
    """TensorFlow's threads per worker process (``GEOGAN_TF_THREADS``), set before it starts."""
    if os.environ.get("GEOGAN_TF_THREADS"):
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["GEOGAN_TF_THREADS"]))
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _worker_model(model_dir: str, token: str):
    def build():
        from geogan.detectors.modelfile import read_config
        from geogan.detectors.neural import NeuralDetector
        from geogan.detectors.registry import detector_class
        from geogan.training.model import load_model

        section = read_config(model_dir).get("detector", {})  # a URL's model: copied once per machine
        name = section.get("name")
        if name == "ensemble":  # an ensemble is as neural as its members
            name = (section.get("params") or {}).get("detector")
        neural = issubclass(detector_class(name), NeuralDetector)
        if neural:  # only neural detectors start TensorFlow (quietly: see geogan._tf)
            tensorflow(configure=_worker_threads)
        return load_model(model_dir)
    return worker_cached(("model", model_dir, token), build)


def score_block(block: np.ndarray, *, model_dir: str, model_token: str, element_index: list[int],
                batch_size: int, with_spread: bool = False, min_elements: int | None = None) -> dict:
    """Score one ``(element, y, x)`` block → ``{"anomaly": (y, x) float32}``.

    A cell is scored when it holds every model element, or, with ``min_elements``, at least
    that many (the rest imputed: :meth:`geogan.training.model.TrainedModel.score_with_spread`); then
    ``"elements_used"`` (uint8, 0 where unscored) says how many it held. ``with_spread`` adds
    ``"spread"``: an ensemble's spread of its members' percentiles."""
    model = _worker_model(model_dir, model_token)
    x = block[element_index].reshape(len(element_index), -1).T
    used = np.isfinite(x).sum(axis=1).astype(np.uint8)
    valid = used >= (len(element_index) if min_elements is None else min_elements)
    out = {"anomaly": np.full(x.shape[0], np.nan, dtype=np.float32)}
    if with_spread:
        out["spread"] = np.full(x.shape[0], np.nan, dtype=np.float32)
    if valid.any():
        cells = np.ascontiguousarray(x[valid], dtype=np.float32)
        parts = [model.score_with_spread(cells[s:s + batch_size], min_elements=min_elements)
                 for s in range(0, len(cells), batch_size)]
        out["anomaly"][valid] = np.concatenate([p[0] for p in parts])
        if with_spread:
            out["spread"][valid] = np.concatenate([p[1] for p in parts])
    if min_elements is not None:
        out["elements_used"] = np.where(valid, used, 0).astype(np.uint8)
    return {k: v.reshape(block.shape[1:]) for k, v in out.items()}


def contribution_block(block: np.ndarray, *, model_dir: str, model_token: str, element_index: list[int],
                       batch_size: int) -> np.ndarray:
    """Per-element contributions of one ``(element, y, x)`` block → ``(model element, y, x)``
    float32 (:func:`geogan.scoring.contributions.element_contributions`); NaN where the score is NaN."""
    from geogan.scoring.contributions import element_contributions

    model = _worker_model(model_dir, model_token)
    x = block[element_index].reshape(len(element_index), -1).T
    valid = np.isfinite(x).all(axis=1)
    out = np.full(x.shape, np.nan, dtype=np.float32)
    if valid.any():
        cells = np.ascontiguousarray(x[valid], dtype=np.float32)
        out[valid] = np.concatenate([element_contributions(model, cells[s:s + batch_size])
                                     for s in range(0, len(cells), batch_size)])
    return np.ascontiguousarray(out.T).reshape((len(element_index),) + block.shape[1:])


def _worker_grid(grid_path: str, created: str | None):
    """The grid's ``concentration`` Zarr array, opened once per worker process."""
    import zarr

    return worker_cached(("grid", grid_path, created), lambda: zarr.open_group(grid_path, mode="r")["concentration"])


def score_tile(grid_path: str, created: str | None, final: str, spec_dict: dict, i: int, j: int, *, model_dir: str,
               model_token: str, element_index: list[int], batch_size: int, contributions: bool = False,
               spread: bool = False, min_elements: int | None = None) -> int:
    """Read tile ``(i, j)`` of the grid, score it and write it into the scores store (runs on
    a worker). Nothing but the count of scored cells leaves the worker, so a worker holds one
    tile at a time. Returns the number of cells scored.

    With ``contributions`` the tile's per-element contributions are also written, into the
    contributions store inside the same staging folder, before the tile is marked done.
    A tile of the grid that cannot be read (a damaged chunk) is a StoreError naming it."""
    spec = GridSpec.from_dict(spec_dict)
    rows, cols = spec.tile_slices(i, j)
    try:
        block = _worker_grid(grid_path, created)[:, rows, cols]
    except MemoryError:
        raise
    except Exception as exc:  # Zarr/Blosc raise many kinds on a damaged chunk
        raise store.tile_read_error(grid_path, i, j, exc) from None
    arrays = score_block(block, model_dir=model_dir, model_token=model_token, element_index=element_index,
                         batch_size=batch_size, with_spread=spread, min_elements=min_elements)
    staging = Staging(final)
    if contributions:
        contrib = contribution_block(block, model_dir=model_dir, model_token=model_token,
                                     element_index=element_index, batch_size=batch_size)
        layout.write_region(contributions_stage(staging), "contribution", contrib, (slice(None), rows, cols))
    for name in sorted(arrays, key=lambda n: n == "anomaly"):  # the anomaly last
        layout.write_region(staging.store, name, arrays[name], (rows, cols))
    staging.mark(i, j)
    return int(np.isfinite(arrays["anomaly"]).sum())
