"""Loading TensorFlow without its start-up chatter.

TensorFlow's start-up lines (absl's "All log messages before
absl::InitializeLog()", the CUDA probing, the oneDNN notes) are written to
the process's stderr by C++ before its log level applies, past Python's
`sys.stderr`. They are hidden by pointing file descriptor 2 elsewhere while
TensorFlow loads and probes its devices; Python's exceptions still reach
the caller.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stderr(enabled=True):
    """File descriptor 2 goes to /dev/null inside the block (Python's
    exceptions still propagate, and are printed after it)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# Keras imports its optional scikit-learn and matplotlib integrations
# (keras.wrappers, keras.visualization) when they are installed: 2.3 of
# `import tensorflow`'s 7 s on a 2-core AMD EPYC.
KERAS_EXTRAS = ("sklearn", "matplotlib")
# The parser defaults of a command that only loads and runs SavedModels,
# never a task's code: it loads TensorFlow without KERAS_EXTRAS.
SAVED_MODEL_ONLY = {"saved_model_only": True}
# The same for a fresh interpreter that will never need them (the export's
# check): its first lines hide them for good.
HIDE_KERAS_EXTRAS = (
    f"import sys\nsys.modules.update(dict.fromkeys({KERAS_EXTRAS!r}, None))\n"
)


@contextlib.contextmanager
def without_modules(names):
    """Inside the block, importing any of `names` not yet imported fails;
    after it, they import as usual."""
    hidden = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden, None))
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def load_tensorflow(debug=False, keras_extras=True):
    """Imports TensorFlow and Keras and starts the runtime without their
    start-up lines (which `TF_CPP_MIN_LOG_LEVEL` does not silence: they come
    before absl's logging is set up).

    Without `keras_extras`, Keras leaves out its scikit-learn and matplotlib
    integrations (`KERAS_EXTRAS`), for a command that only runs SavedModels
    and so never uses them; rnnkit's own later imports of those libraries
    still work."""
    # 3 hides TensorFlow's C++ log but fatal errors; its real failures reach
    # Python as exceptions. (A user's own setting wins.)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "3")
    skipped = () if keras_extras else KERAS_EXTRAS
    with quiet_stderr(not debug), without_modules(skipped):
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # probes for CUDA now, quietly
