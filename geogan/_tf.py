"""Import TensorFlow without its start-up chatter.

TensorFlow's C++ runtime writes to file descriptor 2 at import and at the first device
query ("oneDNN custom operations are on", "Could not find cuda drivers", "failed call to
cuInit", the CPU-instructions notice), before absl logging is set up, so
``TF_CPP_MIN_LOG_LEVEL`` does not stop them. :func:`tensorflow` imports TensorFlow once per
process with fd 2 redirected to a temporary file, then writes back every line that is not
one of those known notices: real errors still reach the console.

Every geogan code path that needs TensorFlow calls :func:`tensorflow` first (in the client
and in each Dask worker); later ``import tensorflow`` statements are then free and silent.

GDAL (pyogrio's) is loaded before TensorFlow: TensorFlow carries its own SQLite, built without
R-trees, and a GDAL loaded after it binds to that one, so GeoPackages written later in the
process (``anomaly_polygons.gpkg``) would have no spatial index.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: start-up notices dropped from stderr (everything else is written back)
NOISE = re.compile(
    r"All log messages before absl::InitializeLog"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|cpu_feature_guard"
    r"|This TensorFlow binary is optimized"
    r"|To enable the following instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning"
)

_LOCK = threading.Lock()
_TF = None


@contextmanager
def filtered_stderr(noise: re.Pattern = NOISE):
    """Capture file descriptor 2 in the block; write back the lines ``noise`` does not match."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if line.strip() and not noise.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def tensorflow(configure: Callable[[Any], None] | None = None):
    """The ``tensorflow`` module, started quietly once per process.

    ``configure(tf)`` runs before the runtime starts (thread pools can only be set then); it
    is not called when TensorFlow already started in this process. The first import, the
    device query, the runtime's start and Keras's import all print their notices here.
    """
    global _TF
    if _TF is None:
        with _LOCK:
            if _TF is None:
                with filtered_stderr():
                    import pyogrio  # noqa: F401  (GDAL's SQLite first: see the module's notes)
                    import tensorflow as tf

                    # its Python warnings ("... triggered tf.function retracing") are for TF's
                    # developers, not a geochemist's console
                    tf.get_logger().setLevel("ERROR")
                    tf.config.list_physical_devices("GPU")
                    if configure is not None:
                        configure(tf)
                    tf.constant(0.0).numpy()  # starts the runtime
                    import keras  # noqa: F401
                _TF = tf
    return _TF
