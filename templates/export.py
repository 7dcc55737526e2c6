"""SavedModels in the TF Serving layout: `<out>/<name>/<version>/`.

An export is written to a hidden folder beside its version, reloaded in a
fresh Python process with plain TensorFlow (no rnnkit, no Keras objects), and
checked against the Keras model's answers; only then is it renamed into
place. A failed export therefore never leaves a version folder behind, and
TF Serving, which only looks at integer folder names, never sees a partial
one.

Models are programs: load SavedModels only from sources you trust, as
TensorFlow's SECURITY.md advises.
"""

import dataclasses
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from rnnkit.templates import atomic, quiet_start
from rnnkit.templates.errors import CorruptError, RnnkitError

METADATA = pathlib.Path("assets") / "rnnkit.json"
TOLERANCE = 1e-5
EVALUATIONS = ("labels", "references", "likelihood")  # see `Serving`


def rnnkit_version():
    """The installed rnnkit's version (recorded in exports and searches)."""
    return importlib.metadata.version("rnnkit")


@dataclasses.dataclass
class Signature:
    """One function of a SavedModel.

    Args:
        name: The signature's name (`serving_default` is TF Serving's).
        function: Named tensors in, a dict of named tensors out.
        inputs: `tf.TensorSpec`s with names, in the function's order.
        defaults: Values `rnnkit predict` gives the inputs a request leaves
            out (a generation signature's temperature, say).
    """

    name: str
    function: object
    inputs: list
    defaults: dict = dataclasses.field(default_factory=dict)

    def input_names(self):
        return [spec.name for spec in self.inputs]


@dataclasses.dataclass
class Serving:
    """A task's SavedModel: its signatures and how rnnkit uses them.

    Everything `rnnkit predict`, `evaluate` and `info` need is here, and is
    recorded in `assets/rnnkit.json`, so they work from the export alone.

    Args:
        model: The Keras model whose variables the signatures use.
        signatures: `Signature`s; one is `serving_default`, which takes
            strings only (one input) and uses the config's defaults.
        output: The `serving_default` output `rnnkit predict` prints.
        evaluation: How `rnnkit evaluate` scores held-out data: `"labels"`
            (serving_default's `probabilities`, ordered as the metadata's
            `labels`, against labelled texts), `"references"` (the printed
            output against reference texts, by BLEU and chrF) or
            `"likelihood"` (the `tokenize` and `score` signatures' nats per
            token on a held-out text).
        checks: `(signature name, request)` pairs the export is verified
            with in a fresh process.
        labelled_outputs: `{output: metadata key}` for outputs whose last
            axis the metadata's list names (`{"probabilities": "labels"}`).
    """

    model: object
    signatures: list
    output: str
    evaluation: str
    checks: list = dataclasses.field(default_factory=list)
    labelled_outputs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        import tensorflow as tf

        names = [s.name for s in self.signatures]
        if "serving_default" not in names:
            raise RnnkitError(f"serving() must define `serving_default`: {names}")
        default = self.signatures[names.index("serving_default")]
        if len(default.inputs) != 1 or default.inputs[0].dtype != tf.string:
            raise RnnkitError(
                "serving_default must take one string input (options go in "
                f"other signatures). Received: {default.inputs}"
            )
        if self.evaluation not in EVALUATIONS:
            raise RnnkitError(
                f"Serving.evaluation must be one of {EVALUATIONS}. "
                f"Received: {self.evaluation!r}"
            )

    def input(self):
        """The name of serving_default's string input."""
        return self.by_name()["serving_default"].inputs[0].name

    def by_name(self):
        return {s.name: s for s in self.signatures}

    def describe(self):
        """What `assets/rnnkit.json` records of it."""
        return {
            "input": self.input(),
            "output": self.output,
            "evaluation": self.evaluation,
            "labelled_outputs": self.labelled_outputs,
            "signatures": {
                s.name: {"inputs": s.input_names(), "defaults": s.defaults}
                for s in self.signatures
            },
        }

    def all_checks(self):
        """`checks`, and for every signature an empty string, an all-empty
        batch and an empty batch (the options at their defaults)."""
        import tensorflow as tf

        empty = []
        for signature in self.signatures:
            texts = [s.name for s in signature.inputs if s.dtype == tf.string]
            others = {s.name for s in signature.inputs} - set(texts)
            if others - set(signature.defaults):
                continue  # an option without a default: the task's checks
            for batch in ([""], ["", ""], []):
                request = {name: batch for name in texts}
                request.update({k: signature.defaults[k] for k in others})
                empty.append((signature.name, request))
        return [*self.checks, *empty]

    def functions(self):
        """The signatures as traced `tf.function`s, for use in-process."""
        import tensorflow as tf

        return {
            s.name: tf.function(s.function, input_signature=s.inputs)
            for s in self.signatures
        }


# Runs in a fresh interpreter: plain TensorFlow only, as a server would, and
# without the Keras extras it never needs (quiet_start.KERAS_EXTRAS).
VERIFY_SCRIPT = (
    quiet_start.HIDE_KERAS_EXTRAS
    + """
import json
import numpy as np
import tensorflow as tf
path, requests_file, out_file = sys.argv[1:]
signatures = tf.saved_model.load(path).signatures
answers = []
for name, request in json.load(open(requests_file)):
    specs = signatures[name].structured_input_signature[1]
    inputs = {k: tf.constant(v, specs[k].dtype) for k, v in request.items()}
    outputs = signatures[name](**inputs)
    answers.append({
        k: [b.decode() for b in v.numpy().reshape(-1)] if v.dtype == tf.string
        else v.numpy().tolist()
        for k, v in outputs.items()
    })
assert "rnnkit" not in sys.modules, "the check must not need rnnkit"
json.dump(answers, open(out_file, "w"))
"""
)


def versions(root):
    root = pathlib.Path(root)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit())


def next_version(root):
    existing = versions(root)
    return existing[-1] + 1 if existing else 1


def _same(expected, served):
    """Equal strings, or floats within TOLERANCE."""
    expected = np.asarray(expected)
    if expected.dtype.kind in "SOU":
        decoded = [v.decode() if isinstance(v, bytes) else v for v in expected.ravel()]
        return decoded == list(np.asarray(served, dtype=object).ravel())
    served = np.asarray(served, dtype=expected.dtype)
    if served.size != expected.size:
        return False
    served = served.reshape(expected.shape)  # an empty batch's [] included
    return np.allclose(expected, served, atol=TOLERANCE, rtol=TOLERANCE)


def verify(path, functions, requests):
    """Reloads `path` in a fresh process and compares its answers to those of
    `functions`, the in-process endpoints that were exported.

    `requests` are `(endpoint name, {input: value})` pairs. Every float
    output must be finite.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as scratch:
        requests_file = pathlib.Path(scratch) / "requests.json"
        answers_file = pathlib.Path(scratch) / "answers.json"
        requests_file.write_text(json.dumps(requests))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        script = [VERIFY_SCRIPT, str(path), str(requests_file), str(answers_file)]
        result = subprocess.run(
            [sys.executable, "-c", *script], capture_output=True, text=True, env=env
        )
        if result.returncode != 0:
            raise RnnkitError(
                f"{path}: the export fails in plain TensorFlow: "
                f"{result.stderr.strip().splitlines()[-1]}"
            )
        served = json.loads(answers_file.read_text())
    for (name, request), answer in zip(requests, served):
        specs = functions[name].input_signature
        expected = functions[name](
            **{spec.name: tf.constant(request[spec.name], spec.dtype) for spec in specs}
        )
        for key, value in expected.items():
            value = value.numpy()
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise RnnkitError(
                    f"{path}: `{key}` from `{name}` is not finite for request {request}"
                )
            if not _same(value, answer[key]):
                raise RnnkitError(
                    f"{path}: the reloaded SavedModel's `{key}` from `{name}` "
                    f"differs from the Keras model's for request {request}"
                )


def write(serving, metadata, root, version=None, force=False):
    """Exports the model and signatures of `serving` (a `Serving`) to
    `<root>/<version>/`, checked in a fresh process; returns its path.

    The version is claimed only once the export is complete and checked, by
    creating its folder exclusively, so two exports at once never take the
    same number: without `version`, the later one takes the next number;
    with it, the later one fails. Only `force` replaces a version."""
    import keras

    root = pathlib.Path(root)
    if version is not None and int(version) < 1:
        raise RnnkitError(f"--version must be a positive integer. Received: {version}")
    if version is not None and (root / str(version)).exists() and not force:
        raise _taken(root / str(version))
    root.mkdir(parents=True, exist_ok=True)
    staged = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=".export-"))
    try:
        archive = keras.export.ExportArchive()
        archive.track(serving.model)
        functions = {
            s.name: archive.add_endpoint(s.name, s.function, s.inputs)
            for s in serving.signatures
        }
        archive.write_out(str(staged), verbose=False)
        details = {
            **metadata,
            "serving": serving.describe(),
            "rnnkit_version": rnnkit_version(),
        }
        atomic.write_json(staged / METADATA, details)
        verify(staged, functions, serving.all_checks())
        # mkdtemp made it private (0700); a server may run as another user.
        staged.chmod(0o755)
        return _move_into_place(staged, root, details, version, force)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _taken(target):
    return RnnkitError(
        f"{target}: version {target.name} already exists; pass --force to "
        "replace it, or leave out --version to add a new one"
    )


def _move_into_place(staged, root, details, version, force):
    """Claims the version folder (exclusively) and moves `staged` into it."""
    while True:
        number = next_version(root) if version is None else int(version)
        target = root / str(number)
        atomic.write_json(staged / METADATA, {**details, "version": number})
        if force and target.exists():
            atomic.replace_directory(staged, target)
            return target
        try:
            target.mkdir()  # the claim: fails if another export made it first
        except FileExistsError:
            if version is not None:
                raise _taken(target) from None
            continue  # another export took this number: take the next
        os.replace(staged, target)  # replaces only the empty folder just made
        return target


def is_export(path):
    """Whether `path` is a SavedModel folder or a folder of versions."""
    path = pathlib.Path(path)
    return (path / "saved_model.pb").is_file() or bool(versions(path))


def resolve(path):
    """A SavedModel folder, or the newest version under a model folder."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    found = versions(path)
    if found:
        return path / str(found[-1])
    raise RnnkitError(
        f"{path}: not a SavedModel (no saved_model.pb) nor a folder of versions"
    )


def read_metadata(path):
    file = resolve(path) / METADATA
    if not file.is_file():
        raise RnnkitError(f"{file}: missing; not an rnnkit export")
    return atomic.read_json(file, "export's metadata")


def load(path):
    """`(signatures, metadata)` of an rnnkit SavedModel, with plain TensorFlow;
    a damaged SavedModel is a `CorruptError` naming it."""
    path = resolve(path)
    metadata = read_metadata(path)
    return load_saved_model(path).signatures, metadata


def load_saved_model(path):
    """`tf.saved_model.load(path)`; a damaged SavedModel is a `CorruptError`
    naming it."""
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(path))
    except Exception as error:  # whatever TF raises for a damaged SavedModel
        reason = str(error).strip().splitlines()[0][:200] if str(error) else ""
        raise CorruptError(
            f"{path}: the SavedModel is damaged or incomplete ({type(error).__name__}"
            f"{': ' + reason if reason else ''}); export the run again"
        ) from None
