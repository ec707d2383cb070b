"""Integer seeds and per-epoch permutations derived from ``random_state``."""
# License: BSD 3 clause

import numpy as np
from sklearn.utils import check_random_state

# Keras initializers and TensorFlow ops take int32 seeds.
_MAX_SEED = np.iinfo(np.int32).max


def spawn_seeds(random_state, n_seeds):
    """Draw ``n_seeds`` integer seeds from ``random_state`` without touching global state.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As in scikit-learn's ``check_random_state``: an int gives reproducible
        seeds, a ``RandomState`` is drawn from, and ``None`` draws from NumPy's
        global ``RandomState``. The estimators never pass None: they pass a
        ``RandomState`` seeded from fresh OS entropy instead (``BaseGMF._rng``), so
        that NumPy's global state is never used.
    n_seeds : int
        Number of seeds.

    Returns
    -------
    seeds : list of int
    """
    rng = check_random_state(random_state)
    return [int(s) for s in rng.randint(0, _MAX_SEED, size=n_seeds)]


def epoch_permutations(seed, n_samples):
    """Yield a fresh permutation of ``range(n_samples)`` for every epoch."""
    rng = np.random.default_rng(seed)
    while True:
        yield rng.permutation(n_samples).astype(np.int32)
