"""Model directories: the files a fitted detector is saved as, and their checks on load.

A model directory holds ``config.json`` (format, version, the ``detector`` section: name,
parameters, fitted state, Keras architecture, threshold, and the column names when it was
fitted on a pandas DataFrame) and weight files; never pickles of code. Here: writing it
(:func:`write_model_files`; atomically through :func:`geogan.stores.files.staged_directory`),
reading and validating it (:func:`read_config`, :func:`detector_from_config`), the limits on
what it may ask TensorFlow to build (:data:`MAX_UNITS`, :data:`MAX_PARAMETERS`,
:data:`MAX_LAYERS`), :func:`model_file`, :func:`checked_only`, the training data
fingerprint a model or checkpoint records (:func:`data_fingerprint`), and model directories in
object storage (``s3://...``): copied to a local cache before they are read
(:func:`fetch_model_dir`, :func:`local_model`), with every check of a local one.

Must not hold: the networks' architecture and weight-file checks and their rebuilding
(:mod:`geogan.detectors.netfiles`), detector classes or training code
(:mod:`geogan.detectors.base`, :mod:`geogan.detectors.neural`), checkpoints
(:mod:`geogan.detectors.checkpoint`), or the registry (:mod:`geogan.detectors.registry`).
Nothing here imports TensorFlow or Keras.

>>> check_width("latent_dim", 8)
>>> check_width("latent_dim", 10**6)
Traceback (most recent call last):
geogan.errors.ConfigError: latent_dim must be an integer between 1 and 65536, got 1000000
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geogan._version import __version__
from geogan.detectors.registry import DETECTORS
from geogan.errors import ConfigError, GeoganError, ModelError, OutputExistsError
from geogan.stores.remote import Remote, is_remote, public_url
from geogan.stores.urls import filesystem, is_url

if TYPE_CHECKING:
    from geogan.detectors.base import Detector

CONFIG_NAME = "config.json"
MODEL_FORMAT = "geogan-model"
MODEL_FORMAT_VERSION = 1
_DETECTOR_KEYS = {"name", "params", "n_features", "score", "state", "architecture", "threshold", "feature_names"}
#: Limits on what a model directory, checkpoint or parameter set may ask TensorFlow to build,
#: checked before anything is allocated: the width of any layer or network input (Dense
#: units, latent dimension, features), the weights of one network (~2 GB of float32; geogan's
#: default ALAD has ~0.2 M), and the layers of one network.
MAX_UNITS = 65536
MAX_PARAMETERS = 500_000_000
MAX_LAYERS = 1000


def check_width(name: str, value) -> None:
    """:class:`ConfigError` unless ``value`` is an integer in 1..:data:`MAX_UNITS`."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= MAX_UNITS:
        raise ConfigError(f"{name} must be an integer between 1 and {MAX_UNITS}, got {value!r}")


def check_widths(name: str, units, *, length: int | None = None) -> None:
    """:class:`ConfigError` unless ``units`` is a non-empty list of layer widths (integers in
    1..:data:`MAX_UNITS`), of ``length`` entries when given."""
    ok = isinstance(units, (list, tuple)) and units and (length is None or len(units) == length) and all(
        isinstance(u, (int, np.integer)) and not isinstance(u, bool) and 1 <= u <= MAX_UNITS for u in units)
    if not ok:
        need = f"{length} integers" if length else "a non-empty list of integers"
        raise ConfigError(f"{name} must be {need} between 1 and {MAX_UNITS}, got {units!r}")


def write_model_files(path: Path, det: Detector, *, metadata: dict | None = None) -> dict:
    """Write ``config.json`` and the weight files of ``det`` into the existing dir ``path``."""
    config = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
              "geogan_version": __version__, "detector": det.to_config(path)}
    for key, value in (metadata or {}).items():
        if key in config:
            raise ConfigError(f"metadata key {key!r} is reserved in config.json")
        config[key] = value
    (path / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return config


def read_config(path: Path) -> dict:
    """Read and check the envelope of ``path/config.json`` (:class:`ModelError` if unusable);
    ``path`` may be a URL (:func:`local_model`)."""
    if is_url(path):
        with local_model(path) as local:
            return read_config(local)
    cfg_path = Path(path) / CONFIG_NAME
    if not Path(path).is_dir():
        raise ModelError("model directory not found", path=path)
    if not cfg_path.is_file():
        raise ModelError(f"no {CONFIG_NAME}: not a geogan model directory", path=path)
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable JSON ({exc})", path=cfg_path) from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ModelError(f"not a geogan model config (format {config.get('format') if isinstance(config, dict) else None!r})",
                         path=cfg_path)
    if config.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(f"model format version {config.get('format_version')} is not supported by this geogan "
                         f"(reads {MODEL_FORMAT_VERSION}); retrain the model", path=cfg_path)
    if not isinstance(config.get("detector"), dict):
        raise ModelError("config has no 'detector' section", path=cfg_path)
    return config


def detector_from_config(path: Path, section: dict, *, where) -> Detector:
    """Rebuild a fitted detector from its ``detector`` config section and weight files."""
    unknown = set(section) - _DETECTOR_KEYS
    if unknown:
        raise ModelError(f"unknown keys in the detector section: {', '.join(sorted(unknown))}", path=where)
    name = section.get("name")
    if name not in DETECTORS:
        raise ModelError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})", path=where)
    cls = DETECTORS[name]
    params = section.get("params")
    if not isinstance(params, dict):
        raise ModelError("detector 'params' must be a JSON object", path=where)
    bad = set(params) - set(cls.param_names())
    if bad:
        raise ModelError(f"unknown parameter(s) for {name}: {', '.join(sorted(bad))}", path=where)
    try:
        det = cls(**params)
        det.check_params()
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"invalid parameters for {name}: {exc}", path=where) from None
    n_features = section.get("n_features")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_UNITS:
        raise ModelError(f"detector 'n_features' must be an integer between 1 and {MAX_UNITS}", path=where)
    state = section.get("state")
    if not isinstance(state, dict):
        raise ModelError("detector 'state' must be a JSON object", path=where)
    threshold = section.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise ModelError(f"detector 'threshold' must be a finite number, got {threshold!r}", path=where)
    names = section.get("feature_names")  # the columns of the DataFrame it was fitted on, if any
    if names is not None and (not isinstance(names, list) or len(names) != n_features
                              or not all(isinstance(n, str) for n in names)):
        raise ModelError(f"detector 'feature_names' must list {n_features} column names (strings)", path=where)
    det.n_features_ = det.n_features_in_ = n_features
    if names is not None:
        det.feature_names_in_ = np.asarray(names, dtype=object)
    det.restore_state(Path(path), state, section)
    # models saved before geogan kept threshold_ load without one (predict then says so);
    # decision_scores_ and labels_ describe the training rows and are not saved
    det.threshold_ = None if threshold is None else float(threshold)
    return det


_BUILD_NETWORKS: contextvars.ContextVar[bool] = contextvars.ContextVar("geogan_build_networks", default=True)


@contextmanager
def checked_only() -> Iterator[None]:
    """Within the block, loading a neural detector checks its config, architecture and weight
    files (names, shapes, sizes) without building the networks: nothing imports Keras or
    TensorFlow. The result can be inspected, not used to score (the Dask client of ``geogan
    score`` validates a model this way; the workers load it whole)."""
    token = _BUILD_NETWORKS.set(False)
    try:
        yield
    finally:
        _BUILD_NETWORKS.reset(token)


def builds_networks() -> bool:
    """Whether loading builds the networks: ``False`` inside :func:`checked_only`."""
    return _BUILD_NETWORKS.get()


def data_fingerprint(X: np.ndarray) -> str:
    """A short digest of a training array (its shape and bytes): a checkpoint records it, and
    resuming refuses other data."""
    import hashlib

    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    return h.hexdigest()[:32]


def model_file(path: Path, rel: str, *, what: str) -> Path:
    """The file ``rel`` of the model directory ``path``, refused (:class:`ModelError`) when it
    is missing, not a regular file (a FIFO or a device would block or never end), or a link
    out of the model directory."""
    file = Path(path) / rel
    if file.is_symlink() and Path(path).resolve() not in file.resolve().parents:
        raise ModelError(f"{what} {rel} is a link out of the model directory", path=path)
    if not os.path.lexists(file):
        raise ModelError(f"{what} {rel} is missing", path=path)
    if not file.is_file():
        raise ModelError(f"{what} {rel} is not a regular file", path=path)
    return file


# -- model directories in object storage ----------------------------------------------------------
#: the largest ``config.json`` read from object storage, and the most bytes of the files of one
#: model directory there that are copied to load it (networks of :data:`MAX_PARAMETERS` fit)
MAX_CONFIG_BYTES = 64 << 20
MAX_FETCH_BYTES = 16 << 30
#: where copies of models in object storage are kept (default: ``<temp>/geogan-<uid>/models``)
CACHE_ENV = "GEOGAN_CACHE_DIR"


def user_dir(env: str, name: str) -> Path:
    """The folder ``$env`` when set, else ``<temp dir>/geogan-<uid>/<name>``, created; a
    ``geogan-<uid>`` folder that is a link or another user's is refused
    (:class:`OutputExistsError`): what it holds is read back as the user's own."""
    if os.environ.get(env):
        folder = Path(os.environ[env])
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    root = Path(tempfile.gettempdir()) / f"geogan-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(root)
    if not os.path.isdir(root) or os.path.islink(root) or st.st_uid != os.getuid():
        raise OutputExistsError(f"{root} is a link or another user's folder; set {env} to a folder of yours",
                                path=None)
    (root / name).mkdir(exist_ok=True)
    return root / name


def remote_config(url: str) -> bytes:
    """The bytes of the ``config.json`` of the model directory ``url`` in object storage
    (:class:`ModelError`, naming the URL, when it has none or it cannot be read)."""
    shown = public_url(str(url))
    loc = Remote(url)
    try:
        raw = loc.read_bytes(CONFIG_NAME, limit=MAX_CONFIG_BYTES)
        if raw is None:
            raise ModelError("model directory not found" if not loc.exists() else
                             f"no {CONFIG_NAME}: not a geogan model directory", path=shown)
    except GeoganError as exc:
        raise ModelError(exc.message, path=shown) from None
    except OSError as exc:  # permissions, network
        raise ModelError(f"cannot read it ({exc})", path=shown) from None
    return raw


def _loadable(rel: str) -> bool:
    """Whether loading a model reads the file ``rel`` of its directory: its config, arrays,
    weights and history, an ensemble's members, never checkpoints or work files."""
    from geogan.stores.ownership import is_model_entry

    return is_model_entry(rel) and not rel.startswith("checkpoints/") and rel != "run.json" \
        and not rel.endswith(".history.json")


def _cached(dest: Path, config: bytes) -> bool:
    """Whether ``dest`` is a finished copy of the model whose ``config.json`` is ``config``."""
    try:
        return (dest / CONFIG_NAME).read_bytes() == config
    except OSError:
        return False


def fetch_model_dir(url: str) -> Path:
    """A local copy of the model directory ``url`` in object storage, to load as a local one.

    The copy holds the files loading reads (config, arrays, weights, history, an ensemble's
    members; a user's files and checkpoints stay behind), at most :data:`MAX_FETCH_BYTES`.
    It is kept in :func:`user_dir` (``$GEOGAN_CACHE_DIR``), keyed by the URL and the SHA-256
    of its ``config.json``: a worker loading it again, or another worker on the machine,
    copies nothing, and a model replaced at the URL is copied afresh. A model replaced while
    it is copied is refused (:class:`ModelError`, naming the URL, as every failure here)."""
    shown = public_url(str(url))
    config = remote_config(url)
    digest = hashlib.sha256(config).hexdigest()
    dest = user_dir(CACHE_ENV, "models") / hashlib.sha256(f"{shown}\n{digest}".encode()).hexdigest()[:32]
    if _cached(dest, config):
        return dest
    loc = Remote(url)
    loc.fs.invalidate_cache()
    try:
        found = {p[len(loc.key) + 1:]: info.get("size") or 0 for p, info in loc.fs.find(loc.key, detail=True).items()
                 if p.startswith(loc.key + "/")}
    except OSError as exc:
        raise ModelError(f"cannot list it ({exc})", path=shown) from None
    wanted = sorted(rel for rel in found if _loadable(rel) and rel != CONFIG_NAME)
    total = sum(found[rel] for rel in wanted)
    if total > MAX_FETCH_BYTES:
        raise ModelError(f"its model files are {total:,} bytes, more than geogan loads ({MAX_FETCH_BYTES:,})",
                         path=shown)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        for rel in wanted:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            loc.fs.get_file(f"{loc.key}/{rel}", str(tmp / rel))
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / CONFIG_NAME).write_bytes(config)
        if remote_config(url) != config:
            raise ModelError("the model was replaced while it was read; try again", path=shown)
        try:
            os.replace(tmp, dest)
        except OSError:  # a copy is there: another process's, the same, or one damaged since (set aside)
            if not _cached(dest, config):
                aside = dest.with_name(f".{dest.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
                os.replace(dest, aside)
                shutil.rmtree(aside, ignore_errors=True)
                os.replace(tmp, dest)
    except OSError as exc:
        raise ModelError(f"cannot copy it ({exc})", path=shown) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


@contextmanager
def local_model(path) -> Iterator[Path]:
    """A local directory for the model directory ``path``: itself; a ``file://`` URL's path;
    for a URL in object storage, its cached copy (:func:`fetch_model_dir`). A
    :class:`~geogan.errors.GeoganError` raised in the block that names the copy is re-raised
    naming the URL (without credentials)."""
    if not is_url(path):
        yield Path(path)
        return
    if not is_remote(path):
        yield Path(filesystem(str(path))[1])
        return
    shown, local = public_url(str(path)), fetch_model_dir(str(path))
    try:
        yield local
    except GeoganError as exc:
        exc.path = None if exc.path is None else exc.path.replace(str(local), shown)
        exc.message = exc.message.replace(str(local), shown)
        exc.args = (exc.format(),)
        raise
