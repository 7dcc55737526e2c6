"""TF Serving's REST JSON: predict requests in, answers, status and metadata
out.

A predict request comes in one of two forms:

- row (`"instances"`): a list with one entry per example, the input's value
  or, for several inputs, an object of them; every input is batched, so a
  signature with scalar options (generation's `generate`) takes the
  columnar form only, as in TF Serving;
- columnar (`"inputs"`): the input's value, or an object of named values,
  each its whole tensor.

A row request is answered with `{"predictions": ...}` (one entry per
example: the output's value, or an object of the outputs), a columnar one
with `{"outputs": ...}`. Strings are JSON strings, or `{"b64": ...}` for
binary values (and outputs whose name ends in `_bytes`).
"""

import base64
import binascii
import dataclasses
import json
import math

import numpy as np

from rnnkit.serving.errors import RequestError

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


@dataclasses.dataclass
class Predict:
    """A parsed predict request.

    Args:
        signature_name: The signature to call.
        inputs: `{input name: array}`, checked against the signature.
        rows: The batch size: the first dimension of the batched inputs.
        row_format: Whether it came as `"instances"` (answered as
            `"predictions"`) rather than `"inputs"`.
    """

    signature_name: str
    inputs: dict
    rows: int
    row_format: bool


def parse_json(body):
    """The request body as a JSON object, or a 400 saying where it breaks."""
    try:
        request = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 JSON") from None
    except RecursionError:
        raise RequestError("the request's JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise RequestError(
            f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(request, dict):
        raise RequestError(
            'the request must be a JSON object, e.g. {"instances": [...]}'
        )
    return request


def input_specs(function):
    """`{name: tf.TensorSpec}` of a signature's inputs."""
    return function.structured_input_signature[1]


def parse_predict(request, signatures_of, max_rows):
    """A `Predict` from a request object; `signatures_of(name)` gives the
    signature (or raises a 404)."""
    name = request.get("signature_name", "serving_default")
    if not isinstance(name, str):
        raise RequestError(f"signature_name must be a string. Received: {name!r}")
    specs = input_specs(signatures_of(name))
    unknown = set(request) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise RequestError(
            f"unknown request field(s) {sorted(unknown)}; a predict request has "
            '"signature_name" and one of "instances" (rows) or "inputs" (columns)'
        )
    if ("instances" in request) == ("inputs" in request):
        raise RequestError(
            'give exactly one of "instances" (the row format) or "inputs" (the '
            "columnar format)"
        )
    if "instances" in request:
        values = _rows_to_columns(request["instances"], specs, name)
    else:
        values = _named_columns(request["inputs"], specs)
    inputs = {key: to_array(key, value, specs[key]) for key, value in values.items()}
    rows = _batch_size(inputs, specs)
    if rows == 0:
        raise RequestError("the batch is empty; send at least one example")
    if rows > max_rows:
        raise RequestError(
            f"the batch has {rows} examples; this server takes at most "
            f"{max_rows} a request (--max-request-batch)"
        )
    return Predict(name, inputs, rows, "instances" in request)


def _rows_to_columns(instances, specs, name):
    if not isinstance(instances, list):
        raise RequestError('"instances" must be a list, one entry per example')
    scalars = sorted(k for k, spec in specs.items() if spec.shape.rank == 0)
    if scalars:
        raise RequestError(
            f"signature {name!r} takes scalar inputs {scalars}, which the row "
            'format cannot give; send them in the columnar format: {"inputs": '
            "{" + ", ".join(f'"{k}": ...' for k in specs) + "}}"
        )
    (only,) = specs if len(specs) == 1 else (None,)
    columns = {key: [] for key in specs}
    for index, instance in enumerate(instances):
        if only is not None and not _named(instance):
            instance = {only: instance}
        if not isinstance(instance, dict) or set(instance) != set(specs):
            raise RequestError(
                f"instance {index} must be an object with the inputs "
                f"{sorted(specs)}. Received: {_short(instance)}"
            )
        for key in specs:
            columns[key].append(instance[key])
    return columns


def _named_columns(inputs, specs):
    if len(specs) == 1 and not _named(inputs):
        return {next(iter(specs)): inputs}
    if not isinstance(inputs, dict):
        raise RequestError(
            f'"inputs" must be an object of the inputs {sorted(specs)}. '
            f"Received: {_short(inputs)}"
        )
    missing, unknown = set(specs) - set(inputs), set(inputs) - set(specs)
    if missing or unknown:
        raise RequestError(
            f"this signature takes the inputs {sorted(specs)}"
            + (f"; missing {sorted(missing)}" if missing else "")
            + (f"; unknown {sorted(unknown)}" if unknown else "")
        )
    return inputs


def _named(value):
    """Whether a value is an object of named inputs (not a `{"b64": ...}`)."""
    return isinstance(value, dict) and set(value) != {"b64"}


def _short(value, limit=80):
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shape(value, name):
    """The shape of nested lists, which must be rectangular."""
    if not isinstance(value, list):
        return ()
    shapes = {_shape(item, name) for item in value}
    if len(shapes) > 1:
        raise RequestError(
            f"input {name!r} is ragged: its lists differ in length or depth"
        )
    return (len(value), *(shapes.pop() if shapes else ()))


def _leaf(name, value, dtype):
    """One JSON value as a `dtype` element, refusing any cast."""
    kind = dtype.name
    if dtype.name == "string":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"}:
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, TypeError):
                raise RequestError(f'input {name!r}: "b64" is not base64') from None
    elif dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = INT_RANGES.get(kind, (-(2**63), 2**63 - 1))
            if low <= value <= high:
                return value
            raise RequestError(
                f"input {name!r} must be within the {kind} range. Received: {value}"
            )
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and abs(value) > dtype.max:
                raise RequestError(
                    f"input {name!r} is beyond the {kind} range. Received: {value}"
                )
            return value
    elif dtype.is_bool and isinstance(value, bool):
        return value
    raise RequestError(f"input {name!r} takes {kind} values. Received: {_short(value)}")


def to_array(name, value, spec):
    """A JSON value as an array of the input's dtype and shape."""
    shape = _shape(value, name)
    expected = spec.shape
    if len(shape) != expected.rank or any(
        want is not None and want != got for want, got in zip(expected, shape)
    ):
        raise RequestError(
            f"input {name!r} must have shape {_dims(expected)}. Received: "
            f"shape {list(shape)}"
        )
    flat = np.array(value, dtype=object).reshape(-1) if shape else [value]
    leaves = [_leaf(name, v, spec.dtype) for v in flat]
    dtype = object if spec.dtype.name == "string" else spec.dtype.as_numpy_dtype
    return np.array(leaves, dtype=dtype).reshape(shape)


def _dims(shape):
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _batch_size(inputs, specs):
    sizes = {k: a.shape[0] for k, a in inputs.items() if specs[k].shape.rank}
    if len(set(sizes.values())) > 1:
        raise RequestError(f"the inputs disagree on the batch size: {sizes}")
    return next(iter(sizes.values()), 1)


def _json_value(name, array):
    if array.dtype.kind in "OSU":
        if name.endswith("_bytes"):
            encode = lambda b: {"b64": base64.b64encode(b).decode("ascii")}  # noqa: E731
        else:
            encode = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
        return np.vectorize(encode, otypes=[object])(array).tolist()
    return array.tolist()


def predict_response(outputs, row_format):
    """`{"predictions": ...}` or `{"outputs": ...}` for `{name: array}`."""
    values = {name: _json_value(name, array) for name, array in outputs.items()}
    if not row_format:
        if len(values) == 1:
            return {"outputs": next(iter(values.values()))}
        return {"outputs": values}
    rows = {len(v) if isinstance(v, list) else None for v in values.values()}
    if len(rows) != 1 or None in rows:
        raise RequestError(
            "the outputs of this signature do not share a batch dimension, "
            'which the row format needs; send the columnar format ("inputs")'
        )
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    (count,) = rows
    return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(count)]}


def model_status(rows):
    """TF Serving's `GetModelStatusResponse` for `[(version, state, error)]`."""
    return {
        "model_version_status": [
            {
                "version": str(number),
                "state": state,
                "status": {
                    "error_code": "UNKNOWN" if message else "OK",
                    "error_message": message,
                },
            }
            for number, state, message in rows
        ]
    }


def model_metadata(name, version):
    """TF Serving's `GetModelMetadataResponse` for a `versions.Version`."""
    return {
        "model_spec": {
            "name": name,
            "signature_name": "",
            "version": str(version.number),
        },
        "metadata": {"signature_def": {"signature_def": version.signature_defs}},
    }
