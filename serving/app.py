"""What each URL of TF Serving's REST API answers, apart from HTTP.

`get(path)` and `post(path, body)` return `(status, JSON object)`:

- `GET /v1/models/{name}[/versions/{v}]`: the versions' status;
- `GET /v1/models/{name}[/versions/{v}]/metadata`: the signature defs;
- `POST /v1/models/{name}[/versions/{v}]:predict`: the answers.

Nothing in a request names a file: the model name is only compared with
the served one, and versions are looked up among those loaded.
"""

import logging
import re

from rnnkit.serving import rest
from rnnkit.serving.errors import RequestError, not_found

log = logging.getLogger("rnnkit")

ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<tail>/metadata|:[A-Za-z]+)?"
)


class ServingApp:
    """TF Serving's REST API over a `VersionWatcher`.

    Args:
        name: The model name clients use in URLs.
        watcher: The `versions.VersionWatcher` serving the versions.
        batcher: A `batching.Batcher`, or `None` to run each request alone.
        max_rows: The most examples one request may hold.
    """

    def __init__(self, name, watcher, batcher=None, max_rows=1024):
        self.name = name
        self.watcher = watcher
        self.batcher = batcher
        self.max_rows = max_rows

    def _route(self, path):
        found = ROUTE.fullmatch(path.split("?", 1)[0])
        if not found:
            raise not_found(
                f"no such path: {path[:100]}; the paths are /v1/models/<name>"
                "[/versions/<n>][/metadata|:predict]"
            )
        if found["name"] != self.name:
            raise not_found(
                f"model {found['name']!r} not found; this server serves {self.name!r}"
            )
        if found["label"] is not None:
            raise not_found(
                "version labels are not served by rnnkit serve; address a "
                "version as /versions/<n>"
            )
        version = found["version"]
        if version is not None and not version.isdigit():
            raise RequestError(f"the version must be an integer. Received: {version}")
        return (int(version) if version else None), found["tail"]

    def get(self, path):
        number, tail = self._route(path)
        if tail is None:
            return 200, rest.model_status(self.watcher.statuses(number))
        if tail == "/metadata":
            return 200, rest.model_metadata(self.name, self.watcher.get(number))
        raise not_found(f"GET {tail} is not an API; POST :predict is")

    def post(self, path, body):
        number, tail = self._route(path)
        if tail in (":classify", ":regress"):
            raise RequestError(
                f"{tail} takes tf.Example signatures, which rnnkit exports do "
                "not have; use :predict"
            )
        if tail != ":predict":
            raise not_found(f"POST {tail or path} is not an API; :predict is")
        # This request keeps this version even if a newer one is swapped in.
        version = self.watcher.get(number)
        request = rest.parse_json(body)
        predict = rest.parse_predict(request, version.signature, self.max_rows)
        outputs = self._call(version, predict)
        return 200, rest.predict_response(outputs, predict.row_format)

    def _call(self, version, predict):
        import tensorflow as tf

        from rnnkit.templates import inference

        function = version.signatures[predict.signature_name]
        specs = rest.input_specs(function)

        def run(inputs):
            tensors = {k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()}
            try:
                outputs = function(**tensors)
            except tf.errors.InvalidArgumentError as error:
                raise RequestError(inference.graph_check_reason(error)) from None
            return {k: v.numpy() for k, v in outputs.items()}

        if self.batcher is None or predict.signature_name not in version.batchable:
            return run(predict.inputs)
        batched = {k for k, spec in specs.items() if spec.shape.rank}
        options = tuple(
            (k, v.dtype.str, v.tolist())
            for k, v in sorted(predict.inputs.items())
            if k not in batched
        )
        key = (version, predict.signature_name, options)
        return self.batcher.call(key, run, predict.inputs, predict.rows, batched)
