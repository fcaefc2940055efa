"""Where geogan keeps what it makes: Zarr v3 stores and the rules that keep outputs safe.

- :mod:`geogan.stores.store`: opening a store with checks (:func:`open_grid`, :func:`open_store`)
  and describing it (:func:`describe`);
- :mod:`geogan.stores.layout`: the grid store's layout, creating it, tile writes, portable metadata;
- :mod:`geogan.stores.geometry`: a store's ``grid`` attribute and chunks checked against its
  coordinates (:func:`grid_spec`);
- :mod:`geogan.stores.scores`: the score folder's layout and its two stores;
- :mod:`geogan.stores.staging`: building a store in a staging folder, resuming, finalising;
- :mod:`geogan.stores.files`: output checks, atomic replace, digests, one-writer locks;
- :mod:`geogan.stores.ownership`: what geogan wrote, so that ``--overwrite`` replaces only that;
- :mod:`geogan.stores.urls`: inputs named by fsspec URLs.
"""

from geogan.stores.scores import open_contributions_store, open_scores_store
from geogan.stores.geometry import grid_spec
from geogan.stores.store import describe, open_grid, open_store

__all__ = ["open_grid", "open_store", "grid_spec", "describe", "open_scores_store", "open_contributions_store"]
