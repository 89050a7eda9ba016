"""TF Serving's REST encoding of tensors: a predict request's JSON (row format `"instances"` or
columnar `"inputs"`, bytes as `{"b64": ...}`) to arrays, and outputs back to its JSON."""

from __future__ import annotations

import base64
import json

import numpy as np

from tfrec.serving.models import ServingError


def _decode_b64(value):
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise ServingError('invalid base64 in a {"b64": ...} value') from None
        raise ServingError(f"unexpected JSON object in a tensor value: {json.dumps(value)[:80]}")
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def json_to_array(name: str, value) -> np.ndarray:
    """One input's JSON value as an array (`{"b64": ...}` decoded to bytes, strings as objects).

    Example:
        >>> json_to_array("image", [{"b64": "Y3Vw"}]).tolist()
        [b'cup']
    """
    value = _decode_b64(value)
    try:
        arr = np.array(value)
    except ValueError:
        raise ServingError(f"input '{name}' is ragged: every row needs the same length") from None
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if arr.dtype == object and any(isinstance(x, (list, dict)) for x in arr.ravel()):
        raise ServingError(f"input '{name}' is ragged: every row needs the same length")
    if arr.dtype == object and any(x is None for x in arr.ravel()):
        raise ServingError(f"input '{name}' holds null")
    return arr


def _json_value(arr: np.ndarray):
    if arr.dtype == object:

        def dec(x):
            if isinstance(x, bytes):
                try:
                    return x.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(x).decode()}
            return x

        return np.vectorize(dec, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    return arr.tolist()


def parse_predict(body: dict, input_names: list[str]) -> tuple[dict, bool]:
    """(inputs, row_format) from a predict request body: TF Serving's row format
    (`"instances"`) or columnar format (`"inputs"`).

    Args:
        body: the parsed JSON body.
        input_names: the signature's input names (a bare value fills the only one).

    Raises:
        ServingError: neither or both formats, ragged rows, nulls, mixed instances.

    Example:
        >>> inputs, rows = parse_predict({"inputs": {"query": ["mug"]}}, ["query"])
        >>> inputs["query"].tolist(), rows
        (['mug'], False)
    """
    if not isinstance(body, dict):
        raise ServingError("request body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise ServingError("JSON Value: request must have exactly one of 'instances' or 'inputs'")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError("'instances' must be a non-empty list")
        if all(isinstance(i, dict) for i in instances):
            keys = set(instances[0])
            if any(set(i) != keys for i in instances):
                raise ServingError("all instances must have the same named inputs")
            return {k: json_to_array(k, [i[k] for i in instances]) for k in keys}, True
        if any(isinstance(i, dict) for i in instances):
            raise ServingError("instances must all be objects or all be values")
        if len(input_names) != 1:
            raise ServingError(
                f"the signature has {len(input_names)} inputs ({', '.join(input_names)}): "
                "each instance must be an object naming them"
            )
        return {input_names[0]: json_to_array(input_names[0], instances)}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict):
        return {k: json_to_array(k, v) for k, v in inputs.items()}, False
    if len(input_names) != 1:
        raise ServingError(
            f"'inputs' must be an object naming the inputs: {', '.join(input_names)}"
        )
    return {input_names[0]: json_to_array(input_names[0], inputs)}, False


def format_predict(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    """A predict response as TF Serving writes it: `{"predictions": ...}` for the row format,
    `{"outputs": ...}` for the columnar one (one output: its value alone).

    Args:
        outputs: output name -> array.
        row_format: whether the request used `"instances"`.

    Example:
        >>> format_predict({"scores": np.array([[0.5]])}, row_format=False)
        {'outputs': [[0.5]]}
    """
    if not row_format:
        if len(outputs) == 1:
            return {"outputs": _json_value(next(iter(outputs.values())))}
        return {"outputs": {k: _json_value(v) for k, v in outputs.items()}}
    batch = {v.shape[0] if v.ndim else None for v in outputs.values()}
    if len(batch) != 1 or None in batch:
        raise ServingError("outputs do not share a batch size; use the columnar 'inputs' format")
    (n,) = batch
    if len(outputs) == 1:
        return {"predictions": _json_value(next(iter(outputs.values())))}
    cols = {k: _json_value(v) for k, v in outputs.items()}
    return {"predictions": [{k: cols[k][i] for k in cols} for i in range(n)]}
