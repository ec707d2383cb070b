"""Sphinx configuration for the skgmf documentation."""
# License: BSD 3 clause

import skgmf

project = "skgmf"
author = "skgmf developers"
release = version = skgmf.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
html_theme = "alabaster"
exclude_patterns = ["_build"]
