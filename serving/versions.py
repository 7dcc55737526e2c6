"""The versions of a served model: the highest one loaded, newer ones
swapped in as they appear.

As TF Serving's file-system source does, a model folder holds integer
version folders and the highest is served. A poller looks for a higher one
every few seconds. It loads a version once its files have stayed the same
for one poll (a copy still under way is not "complete"), then swaps it in
with one assignment: a request holds the version it started with, so
in-flight requests finish on the old one. A version that fails to load is
logged and skipped until its files change, and the old one stays up.
"""

import dataclasses
import logging
import pathlib
import threading

from rnnkit.serving import batching
from rnnkit.serving.errors import not_found
from rnnkit.templates import export
from rnnkit.templates.errors import CorruptError, RnnkitError

log = logging.getLogger("rnnkit")
SAVED_MODEL = "saved_model.pb"


@dataclasses.dataclass(frozen=True, eq=False)
class Version:
    """One loaded SavedModel.

    Args:
        number: The version number.
        path: Its folder.
        signatures: `{name: concrete function}`.
        signature_defs: `{name: SignatureDef as TF Serving's JSON}`.
        loaded: The object `tf.saved_model.load` returned, kept alive with
            the variables its signatures use.
        batchable: The names of the signatures whose requests may share a
            call (see `batching.batchable`).
    """

    number: int
    path: pathlib.Path
    signatures: dict
    signature_defs: dict
    loaded: object
    batchable: frozenset

    def signature(self, name):
        if name not in self.signatures:
            raise not_found(
                f"signature {name!r} not found; this model's signatures: "
                f"{sorted(self.signatures)}"
            )
        return self.signatures[name]


def _tensor_info(info):
    from tensorflow.core.framework import types_pb2

    shape = info.tensor_shape
    return {
        "dtype": types_pb2.DataType.Name(info.dtype),
        "tensor_shape": {
            "dim": [{"size": str(d.size), "name": d.name} for d in shape.dim],
            "unknown_rank": shape.unknown_rank,
        },
        "name": info.name,
    }


def signature_defs(path):
    """The SignatureDefs of `path/saved_model.pb`, as TF Serving's metadata
    API prints them."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((path / SAVED_MODEL).read_bytes())
    defs = saved_model.meta_graphs[0].signature_def
    return {
        name: {
            "inputs": {k: _tensor_info(v) for k, v in d.inputs.items()},
            "outputs": {k: _tensor_info(v) for k, v in d.outputs.items()},
            "method_name": d.method_name,
        }
        for name, d in defs.items()
    }


def load(path, number):
    """A `Version` of the SavedModel in `path`; a `CorruptError` naming it
    if it cannot be loaded."""
    loaded = export.load_saved_model(path)
    if not loaded.signatures:
        raise CorruptError(f"{path}: the SavedModel has no signatures to serve")
    signatures = dict(loaded.signatures)
    batchable = frozenset(k for k, f in signatures.items() if batching.batchable(f))
    defs = signature_defs(path)  # the file the load has just parsed
    return Version(number, path, signatures, defs, loaded, batchable)


def _fingerprint(folder):
    """What changes while a version is still being written: every file's
    path, size and modification time."""
    try:
        return tuple(
            sorted(
                (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in folder.rglob("*")
            )
        )
    except OSError:  # a file vanished while we looked: not settled yet
        return None


def model_folder(path):
    """`(folder of versions, fixed version folder or None)` for EXPORT_DIR:
    `saved_models/<name>` or one of its version folders."""
    path = pathlib.Path(path)
    if (path / SAVED_MODEL).is_file():
        return path.parent, path
    if not path.is_dir():
        raise RnnkitError(
            f"{path}: no such folder; give an export's folder "
            "(saved_models/<name>) or one of its version folders"
        )
    return path, None


def check_servable(path):
    """The errors `VersionWatcher(path).start()` gives for a path with nothing
    to serve at all (no such folder, no version folder in it), without
    TensorFlow; a version that fails to load is still found by `start`."""
    folder, fixed = model_folder(path)
    if fixed is None and not export.versions(folder):
        raise _nothing_to_serve(folder)


def _nothing_to_serve(folder):
    return RnnkitError(
        f"{folder}: no version folder (1, 2, ...) with a loadable "
        "SavedModel; export a run into it with `rnnkit export`"
    )


class VersionWatcher:
    """Serves the highest version of a model folder; a poller swaps in a
    higher one once it is complete and loads.

    Args:
        path: `saved_models/<name>` (polled for new versions) or one
            version folder (served alone, never swapped).
        poll_seconds: How often to look for a new version.
    """

    def __init__(self, path, poll_seconds=1.0):
        self.folder, self.fixed = model_folder(path)
        self.poll_seconds = poll_seconds
        self.current = None
        self.retired = []  # numbers of versions that were swapped out
        self.failed = {}  # number -> (fingerprint, message)
        self._seen = {}  # number -> fingerprint at the previous poll
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        """Loads the highest version that loads (raises if none does), then
        starts polling."""
        if self.fixed is not None:
            number = int(self.fixed.name) if self.fixed.name.isdigit() else 1
            self.current = load(self.fixed, number)
            return self.current
        for number in reversed(export.versions(self.folder)):
            try:
                self.current = load(self.folder / str(number), number)
                break
            except CorruptError as error:
                self._fail(number, _fingerprint(self.folder / str(number)), error)
        if self.current is None:
            raise _nothing_to_serve(self.folder)
        self._thread = threading.Thread(target=self._poll_loop, daemon=True)
        self._thread.start()
        return self.current

    def stop(self):
        """Stops polling; waits for a version being loaded."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _fail(self, number, fingerprint, error):
        self.failed[number] = (fingerprint, str(error))
        log.warning("version %d not served: %s", number, error)

    def _poll_loop(self):
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception as error:  # keep serving whatever the disk does
                log.warning(
                    "%s: could not look for new versions: %s", self.folder, error
                )

    def poll(self):
        """One look for a higher, complete version; loads and swaps it in."""
        for number in reversed(export.versions(self.folder)):
            if number <= self.current.number:
                return
            folder = self.folder / str(number)
            fingerprint = _fingerprint(folder)
            settled = fingerprint is not None and self._seen.get(number) == fingerprint
            self._seen[number] = fingerprint
            if self.failed.get(number, (None,))[0] == fingerprint:
                continue  # failed as it is now; tried again once it changes
            if not settled or not (folder / SAVED_MODEL).is_file():
                return  # still being written: wait for the next poll
            try:
                version = load(folder, number)
            except CorruptError as error:
                self._fail(number, fingerprint, error)
                continue
            self.failed.pop(number, None)
            self.retired.append(self.current.number)
            self.current = version  # the swap: one reference assignment
            log.info("serving version %d of %s", number, self.folder)
            return

    def get(self, number=None):
        """The served version, checked against a requested `number`."""
        current = self.current
        if number is not None and number != current.number:
            raise not_found(
                f"version {number} of this model is not served; it serves "
                f"version {current.number}"
            )
        return current

    def statuses(self, number=None):
        """`[(version, state, error message)]`, TF Serving's states."""
        current = self.current
        rows = [(current.number, "AVAILABLE", "")]
        rows += [(n, "END", "") for n in self.retired if n != current.number]
        failed = list(self.failed.items())  # the poller may change it meanwhile
        rows += [(n, "END", message) for n, (_, message) in failed]
        if number is not None:
            rows = [row for row in rows if row[0] == number]
            if not rows:
                raise not_found(f"version {number} of this model is not served")
        return sorted(rows, key=lambda row: -row[0])
