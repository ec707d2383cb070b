"""The TensorFlow backend of Keras: its quiet import and the check that Keras runs on it."""
# License: BSD 3 clause

import os
import sys
import tempfile
import threading

# File descriptor 2 and TF_CPP_MIN_LOG_LEVEL are process-wide: one thread at a
# time may redirect and restore them, and a thread that finds the import under way
# waits for it rather than taking a half-imported module from sys.modules.
_IMPORT_LOCK = threading.Lock()


def import_keras():
    """Import Keras on TensorFlow, hiding TensorFlow's C++ start-up lines.

    TensorFlow prints oneDNN, CUDA-stub and ``cuInit`` lines to the process's
    standard error when it loads, even with ``TF_CPP_MIN_LOG_LEVEL=3``. When
    TensorFlow is not imported yet, its import runs with file descriptor 2
    redirected to a temporary file, and with ``TF_CPP_MIN_LOG_LEVEL=3`` unless the
    user set that variable; both are restored afterwards (TensorFlow keeps the
    level it read for its C++ logs). If the import fails, the hidden lines are
    printed with the error. Import TensorFlow before skgmf does to see them.
    """
    with _IMPORT_LOCK:
        if "tensorflow" in sys.modules:
            import keras

            return keras
        return _import_quietly()


def _import_quietly():
    """Import Keras and TensorFlow with fd 2 redirected; hold ``_IMPORT_LOCK``."""
    own_level = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if own_level:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable file descriptor 2
            saved = None
        with tempfile.TemporaryFile() as log:
            if saved is not None:
                os.dup2(log.fileno(), 2)
            try:
                import keras
                import tensorflow  # noqa: F401
            except BaseException:
                if saved is not None:
                    os.dup2(saved, 2)
                    log.seek(0)
                    sys.stderr.write(log.read().decode(errors="replace"))
                raise
            finally:
                if saved is not None:
                    os.dup2(saved, 2)
                    os.close(saved)
    finally:
        if own_level:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return keras


def check_backend(estimator_name):
    """Import Keras and make sure it runs on TensorFlow, which the Adam solver needs.

    Parameters
    ----------
    estimator_name : str
        The estimator's class name, for the error message.

    Raises
    ------
    RuntimeError
        When Keras's backend is not TensorFlow (``KERAS_BACKEND``).
    """
    keras = import_keras()
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"{estimator_name} trains with the TensorFlow backend of Keras, "
            f"but KERAS_BACKEND is {keras.config.backend()!r}. Set "
            "KERAS_BACKEND=tensorflow before Keras is first imported."
        )
