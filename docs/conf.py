"""Sphinx configuration for the skgmf documentation."""
# License: BSD 3 clause

import skgmf

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
