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

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "open_contributions_store": "geogan.stores.scores",
    "open_scores_store": "geogan.stores.scores",
    "grid_spec": "geogan.stores.geometry",
    "describe": "geogan.stores.store",
    "open_grid": "geogan.stores.store",
    "open_store": "geogan.stores.store",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["open_grid", "open_store", "grid_spec", "describe", "open_scores_store", "open_contributions_store"]
