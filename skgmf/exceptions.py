"""Warnings raised by skgmf."""
# License: BSD 3 clause

__all__ = ["InconsistentVersionWarning"]


class InconsistentVersionWarning(UserWarning):
    """Warning raised when an estimator is loaded from another skgmf version.

    A fitted estimator saved with pickle, joblib or skops stores the skgmf
    version that wrote it; loading it with another version warns, since the
    fitted attributes may have changed meaning. scikit-learn's
    :class:`sklearn.exceptions.InconsistentVersionWarning` does the same for its
    own estimators. Refit the estimator with the installed version, or load it
    with the version that wrote it, to be sure of its results.

    Parameters
    ----------
    estimator_name : str
        Name of the estimator's class.
    current_skgmf_version : str
        The installed version of skgmf.
    original_skgmf_version : str or None
        The version that wrote the file; None for files written before skgmf
        recorded its version.

    See Also
    --------
    sklearn.exceptions.InconsistentVersionWarning : The same for scikit-learn.

    Examples
    --------
    >>> from skgmf.exceptions import InconsistentVersionWarning
    >>> warning = InconsistentVersionWarning(
    ...     estimator_name="GMFRegressor",
    ...     current_skgmf_version="0.2.0",
    ...     original_skgmf_version="0.1.0",
    ... )
    >>> warning.original_skgmf_version
    '0.1.0'
    """

    def __init__(self, *, estimator_name, current_skgmf_version, original_skgmf_version):
        self.estimator_name = estimator_name
        self.current_skgmf_version = current_skgmf_version
        self.original_skgmf_version = original_skgmf_version
        original = (
            "an unknown skgmf version (one that did not record it)"
            if original_skgmf_version is None
            else f"skgmf version {original_skgmf_version}"
        )
        super().__init__(
            f"Trying to load estimator {estimator_name} from {original} when using "
            f"version {current_skgmf_version}. This might lead to breaking code or "
            "invalid results. Use at your own risk; refit the estimator with this "
            "version to be safe."
        )
