"""skgmf: Generalized Matrix Factorization as scikit-learn estimators, trained with Keras."""
# License: BSD 3 clause

from ._classifier import GMFClassifier
from ._regressor import GMFRegressor
from ._model import build_gmf

__version__ = "0.1.0"

__all__ = ["GMFClassifier", "GMFRegressor", "build_gmf", "__version__"]
