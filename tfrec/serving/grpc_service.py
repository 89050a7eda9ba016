"""gRPC `tensorflow.serving.PredictionService` (Predict, GetModelMetadata) with the official
`tensorflow_serving.apis` protos, so TF Serving's own `PredictionServiceStub` talks to it.

Its port is exclusive (`tfrec.serving.ports`), and an input TensorProto is checked before it
becomes an array (`check_tensor_proto`): a few bytes declaring a huge shape are refused, never
expanded."""

from __future__ import annotations

import traceback
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfrec.core.log import echo
from tfrec.serving.models import ServingError
from tfrec.serving.ports import GRPC_OPTIONS, ensure_port_free, port_error

GRPC_CODES = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over a `ServingApp`'s models."""

    def __init__(self, app):
        self.app = app

    def _guard(self, context, fn):
        try:
            if self.app.api_key:
                meta = dict(context.invocation_metadata())
                if meta.get("x-api-key") != self.app.api_key:
                    raise ServingError(
                        "missing or wrong API key (metadata x-api-key)", 401, "UNAUTHENTICATED"
                    )
            return fn()
        except ServingError as e:
            code = GRPC_CODES.get(e.code, grpc.StatusCode.INVALID_ARGUMENT)
            context.abort(code, self.app.redact(e.message))  # no path of the server's disk
        except Exception as e:  # never let a request kill the server
            echo(f"[serve] gRPC call failed: {type(e).__name__}: {e}\n{traceback.format_exc()}")
            context.abort(
                grpc.StatusCode.INTERNAL, f"internal error ({type(e).__name__}); see the server log"
            )

    def Predict(self, request, context):
        def run():
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            model = self.app.manager.get(spec.name, version)
            inputs = {}
            for key, proto in request.inputs.items():
                check_tensor_proto(key, proto, self.app.max_body_bytes)
                try:
                    inputs[key] = tf.make_ndarray(proto)
                except Exception as e:
                    raise ServingError(f"input '{key}' is not a valid TensorProto: {e}") from None
            self.app.check_batch(inputs)
            outputs = model.run(spec.signature_name, inputs)
            if request.output_filter:
                missing = [o for o in request.output_filter if o not in outputs]
                if missing:
                    raise ServingError(f"output tensor alias not found in signature: {missing[0]}")
                outputs = {k: outputs[k] for k in request.output_filter}
            resp = predict_pb2.PredictResponse()
            resp.model_spec.name = model.name
            resp.model_spec.version.value = model.version
            resp.model_spec.signature_name = spec.signature_name or "serving_default"
            for k, v in outputs.items():
                resp.outputs[k].CopyFrom(tf.make_tensor_proto(np.asarray(v)))
            return resp

        return self._guard(context, run)

    def GetModelMetadata(self, request, context):
        def run():
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise ServingError(f"Metadata field(s) not supported: {fields}; use signature_def")
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            model = self.app.manager.get(spec.name, version)
            resp = get_model_metadata_pb2.GetModelMetadataResponse()
            resp.model_spec.name = model.name
            resp.model_spec.version.value = model.version
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for k, v in model.signature_defs.items():
                sig_map.signature_def[k].CopyFrom(v)
            resp.metadata["signature_def"].Pack(sig_map)
            return resp

        return self._guard(context, run)


def check_tensor_proto(key: str, proto, max_elements: int) -> None:
    """Refuse a TensorProto whose declared shape its values do not fill, before any array is
    made: `tf.make_ndarray` repeats the last value to fill the declared shape, so 25 bytes
    declaring [1, 50000000] would allocate 200 MB.

    Args:
        key: the input's name (named in the error).
        proto: the `TensorProto`.
        max_elements: the most elements a tensor may declare (the server uses its message size
            limit, `serving.max_body_bytes`).

    Raises:
        ServingError: a negative dimension, more elements than `max_elements`, or another
            number of values than elements (one value, or none, filling the shape is allowed).

    Example:
        >>> check_tensor_proto("k", tf.make_tensor_proto(5, dtype=tf.int32), 1024)
    """
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise ServingError(f"input '{key}' declares a negative dimension: {dims}")
    declared = 1
    for d in dims:
        declared *= d
    if declared > max_elements:
        raise ServingError(
            f"input '{key}' declares shape {dims} ({declared} elements); the limit is "
            f"{max_elements} elements",
            400,
            "RESOURCE_EXHAUSTED",
        )
    if proto.tensor_content:
        return  # reshaped as is: its size must match the shape, or make_ndarray refuses it
    # the typed value lists (string_val, float_val, int_val, ...: every `*_val` is repeated)
    present = sum(len(value) for f, value in proto.ListFields() if f.name.endswith("_val"))
    if proto.dtype in (tf.complex64.as_datatype_enum, tf.complex128.as_datatype_enum):
        present //= 2  # a real and an imaginary part per element
    # TF fills a shape from fewer values by repeating the last one (zeros when none): allowed
    # for one value (a scalar broadcast) or none, within the limit above
    if present not in (declared, 0, 1):
        raise ServingError(
            f"input '{key}' declares shape {dims} ({declared} elements) but holds {present} values"
        )


def make_grpc_server(app, host: str, port: int, workers: int = 8):
    """A started-later gRPC server bound to `host:port` alone (no SO_REUSEPORT); returns
    (server, bound port). A port in use raises `PortUnavailableError` naming it."""
    ensure_port_free("gRPC", host, port)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[("grpc.max_receive_message_length", app.max_body_bytes), *GRPC_OPTIONS],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(app), server
    )
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio >= 1.5x raises where older ones returned 0
        bound = 0
    if bound == 0:
        raise port_error("gRPC", host, port)
    return server, bound
