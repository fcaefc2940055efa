"""Synthetic regional stream-sediment surveys: the embedded default data set.

The generator builds a survey that a geochemist would find plausible, so the demo, the tests
and the national-scale benchmark need no download:

* log-normal backgrounds whose logs are spatially correlated Gaussian random fields (FFT on a
  coarse lattice, interpolated to the samples); a few shared latent factor fields (felsic,
  ferromagnesian/scavenging, carbonate, chalcophile) are mixed into the elements so that the
  elements correlate the way real ones do;
* lithological domains: granite bodies (raise W, Sn, Bi, Be, Li, U, Th, K2O, ...), mafic
  bodies (raise Cr, Ni, Co, V, MgO, ...) and, in the demo, black-shale bodies (raise Mo, Ag,
  V, Ni, U, Zn, ...) as smooth blobs that shift element levels;
* deposits with multiplicative multi-element halos decaying over a few km (Gaussian) (default a
  W-polymetallic model: W, Sn, Mo, Bi, Ag strongly enriched), preferentially at granite
  contacts; half of them small so that some are subtle; a few halos belong to undiscovered
  deposits (in the truth, not in ``deposits.csv``), as in every real survey;
* nugget and analytical noise, drainage-like clustered sample locations plus a uniform
  component, values rounded to 3 significant figures, censoring written as ``<DL`` text,
  missing cells and a few field duplicates (exact same location, re-sampled);
* in the demo, anomalies unrelated to its W deposits, the traps a target-aware map must
  resist: the mafic bodies' Ni-Co-Cr highs, the black shales' Mo-Ag highs, a second
  laboratory (``lab`` = ``B``) whose map sheets read Ag, Bi, Sn, Mo and Au high, and
  single-sample spikes (1 % of samples, one trace element × 20-200); ``truth.json``'s
  ``traps`` records them.

Everything derives from ``seed`` through independent random streams (one per component,
element and chunk), so the same seed gives byte-identical files, and a subset of elements
gives the same values as the full set for those elements.

The package, one concept per module: :mod:`~geogan.synth.elements` (the element catalogue),
:mod:`~geogan.synth.deposits` (deposit models and sizes), :mod:`~geogan.synth.presets`
(presets, option checks), :mod:`~geogan.synth.fields` (random streams, Gaussian fields,
domains, halos on a lattice), :mod:`~geogan.synth.generator` (samples, values),
:mod:`~geogan.synth.truth` (the truth and the known deposits), :mod:`~geogan.synth.memory`
(:func:`make_survey`), :mod:`~geogan.synth.writer` (:func:`write_synthetic_survey`) and
:mod:`~geogan.synth.examples` (:func:`example_grid`, a tiny grid store for examples).
This module only re-exports their public API; it holds no code.

>>> survey = make_survey("demo", n_samples=300, elements=["W", "Cu"], seed=1)
>>> list(survey.table.columns)
['sample_id', 'x', 'y', 'W_ppm', 'Cu_ppm', 'lab']
>>> survey.truth["crs"]
'EPSG:32650'
"""

from geogan.synth.examples import example_grid
from geogan.synth.elements import ELEMENTS, FACTOR_NAMES, ElementSpec
from geogan.synth.deposits import DEPOSIT_MODELS, DepositModel
from geogan.synth.memory import SynthSurvey, make_survey
from geogan.synth.presets import NATIONAL_ELEMENTS, PRESETS, SynthPreset
from geogan.synth.writer import SynthOutputs, write_synthetic_survey

__all__ = [
    "DEPOSIT_MODELS",
    "ELEMENTS",
    "FACTOR_NAMES",
    "NATIONAL_ELEMENTS",
    "PRESETS",
    "DepositModel",
    "ElementSpec",
    "SynthOutputs",
    "SynthPreset",
    "SynthSurvey",
    "example_grid",
    "make_survey",
    "write_synthetic_survey",
]
