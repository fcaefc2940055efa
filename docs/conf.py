"""Sphinx configuration of the geogan documentation (``make docs``).

The build is offline: no intersphinx, notebooks are not executed (``nb_execution_mode =
"off"``), nothing is fetched. ``make docs`` copies ``notebooks/*.ipynb`` into
``docs/tutorials/`` before building (the copies are git-ignored).
"""

import os
import sys
from importlib.metadata import version as _version
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))  # cli_command (sphinx-click)

project = "geogan"
author = "geogan developers"
copyright = "geogan developers"
release = _version("geogan")
version = release

extensions = [
    "myst_nb",  # MyST Markdown pages and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_click",
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build", "_ext", "_templates", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]

# MyST
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3  # links to page.md#a-heading, as on GitHub

# notebooks are rendered as stored, never executed (the build must work offline)
nb_execution_mode = "off"

# API reference
autosummary_generate = True  # one page per module, under api/generated/ (git-ignored)
templates_path = ["_templates"]
autodoc_default_options = {"members": True}
autodoc_typehints = "signature"  # numpydoc sections describe the parameters; types stay in the signature
numpydoc_show_class_members = False

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"geogan {release}"
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_show_sourcelink = False


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out what a module or class only imports or inherits from other libraries (SciPy's
    cKDTree, scikit-learn's generated ``set_*_request`` methods): their docstrings are theirs."""
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and not module.startswith("geogan"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
