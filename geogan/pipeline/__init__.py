"""``geogan run SPEC``: the whole chain from one declarative spec.

:func:`load_spec` reads and checks a spec (:mod:`~geogan.pipeline.spec`; the specs shipped
with geogan: :func:`bundled_specs`); :func:`run_pipeline` brings every stage up to date
(:mod:`~geogan.pipeline.run`), keeping what finished in ``run-state.json``
(:mod:`~geogan.pipeline.state`).
"""

from geogan.pipeline.run import run_pipeline
from geogan.pipeline.spec import PipelineSpec, bundled_specs, load_spec

__all__ = ["PipelineSpec", "bundled_specs", "load_spec", "run_pipeline"]
