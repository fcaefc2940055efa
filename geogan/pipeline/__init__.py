"""``geogan run SPEC``: the whole chain from one declarative spec.

:func:`load_spec` reads and checks a spec (:mod:`~geogan.pipeline.spec`; the specs shipped
with geogan: :func:`bundled_specs`); :func:`run_pipeline` brings every stage up to date
(:mod:`~geogan.pipeline.run`), keeping what finished in ``run-state.json``
(:mod:`~geogan.pipeline.state`), in a local folder or an object-storage prefix
(:mod:`~geogan.pipeline.location`).
"""

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "run_pipeline": "geogan.pipeline.run",
    "PipelineSpec": "geogan.pipeline.spec",
    "bundled_specs": "geogan.pipeline.spec",
    "load_spec": "geogan.pipeline.spec",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["PipelineSpec", "bundled_specs", "load_spec", "run_pipeline"]
