"""gRPC `tensorflow.serving.PredictionService` (Predict, GetModelMetadata) with the official
`tensorflow_serving.apis` protos, so TF Serving's own `PredictionServiceStub` talks to it."""

from __future__ import annotations

from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfrec.serving.models import ServingError

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
            context.abort(GRPC_CODES.get(e.code, grpc.StatusCode.INVALID_ARGUMENT), e.message)
        except Exception as e:  # never let a request kill the server
            context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    def Predict(self, request, context):
        def run():
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            model = self.app.manager.get(spec.name, version)
            inputs = {}
            for key, proto in request.inputs.items():
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


def make_grpc_server(app, host: str, port: int, workers: int = 8):
    """A started-later gRPC server; returns (server, bound port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[("grpc.max_receive_message_length", app.max_body_bytes)],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(app), server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    return server, bound
