"""Survey tables in: sample points with element concentrations, read and checked.

:func:`read_survey` is the entry, returning a :class:`Survey` (:mod:`~geogan.survey.record`);
it builds on point tables (:mod:`~geogan.survey.tables`, CSV, Parquet and vector files),
coordinates and CRS (:mod:`~geogan.survey.coordinates`), element columns and units
(:mod:`~geogan.survey.elements`), below-detection values (:mod:`~geogan.survey.censoring`),
duplicates (:mod:`~geogan.survey.duplicates`) and batch levelling
(:mod:`~geogan.survey.levelling`). :mod:`~geogan.survey.pathfinders` maps deposit types to
their indicator elements.
"""

from geogan._lazy import lazy_exports

#: what this package exports, and the module each name is imported from when first used
_EXPORTS = {
    "read_survey": "geogan.survey.read",
    "Survey": "geogan.survey.record",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Survey", "read_survey"]
