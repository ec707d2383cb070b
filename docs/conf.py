"""Sphinx configuration for the skgmf documentation."""
# License: BSD 3 clause

import os
from pathlib import Path

from sphinx.errors import ConfigError

import skgmf
from skgmf.datasets import load_movielens

project = "skgmf"
author = "skgmf developers"
release = version = skgmf.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
# The build machine has no network: no intersphinx. Examples run in fast mode
# (SKGMF_EXAMPLE_FAST=1, set by .ci/run) or full when it is unset.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}
html_theme = "pydata_sphinx_theme"
# Nothing that reaches the network at build time: no version switcher (its JSON is
# fetched and checked while building) and no remote announcement banner.
html_theme_options = {"check_switcher": False}
exclude_patterns = ["_build"]


def setup(app):
    """Make ``$SKGMF_DATA_HOME`` absolute and check that MovieLens 100K is there.

    sphinx-gallery runs every example from the examples' folder, so a relative
    ``SKGMF_DATA_HOME`` (``../shared/data``) would name another folder there, and the
    examples would fall back to synthetic ratings without a word. The path is
    resolved here, against the folder the build was started from (Sphinx runs this
    function from it, whereas the module above runs from ``docs/``), and the build
    fails if the ratings are missing. Without ``SKGMF_DATA_HOME`` the examples use
    synthetic ratings, as they do for users without the data.
    """
    if not os.environ.get("SKGMF_DATA_HOME"):
        return
    home = Path(os.environ["SKGMF_DATA_HOME"]).expanduser().resolve()
    os.environ["SKGMF_DATA_HOME"] = str(home)
    try:
        load_movielens("ml-100k", download=False)
    except OSError as exc:
        raise ConfigError(
            f"SKGMF_DATA_HOME is {home}, but MovieLens 100K is not there, so the "
            f"examples would run on synthetic ratings. {exc} Unset SKGMF_DATA_HOME "
            "to build the examples on synthetic ratings deliberately."
        ) from exc
