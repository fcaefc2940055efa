"""geogan: multivariate geochemical anomaly maps at national scale.

The pipeline, one module per stage::

    survey table --grid--> grid.zarr --train--> model dir --score--> scores.zarr + anomaly.tif + report/
"""

from geogan.errors import GeoganError

__version__ = "0.1.0"
STORE_FORMAT_VERSION = 1

__all__ = ["GeoganError", "__version__", "STORE_FORMAT_VERSION"]
