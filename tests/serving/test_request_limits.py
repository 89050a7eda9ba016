"""Requests that crashed or fooled the server on main: deep JSON and lone surrogates on
`:predict` and `/v1/items`, a `k` beyond int32, a tiny gRPC TensorProto declaring a huge shape.
Each is a 4xx (gRPC: a status) that names the problem, and the server keeps serving."""

import grpc
import pytest
import tensorflow as tf
from serving_client import http
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfrec.serving.grpc_service import check_tensor_proto
from tfrec.serving.models import ServingError

PREDICT = "/v1/models/tfrec:predict"


def predict_body(query="mug", k=3) -> dict:
    return {"signature_name": "retrieval_bruteforce", "inputs": {"query": [query], "k": k}}


@pytest.mark.parametrize(
    "path,raw,words",
    [
        (PREDICT, b'{"inputs": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "deeper than"),
        ("/v1/items", b'{"items": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "deeper than"),
        (
            PREDICT,
            b'{"signature_name": "retrieval_bruteforce", "inputs": {"query": ["\\ud800"], "k": 3}}',
            "surrogate",
        ),
        ("/v1/items", b'{"items": [{"item_id": "n1", "title": "mug \\ud800"}]}', "surrogate"),
    ],
)
def test_deep_json_and_lone_surrogates_are_400(app, path, raw, words):
    status, body = http(app, "POST", path, raw=raw)
    assert status == 400, body
    assert words in body["error"]
    assert http(app, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize("k", [4_294_967_299, 2**63, -(2**31) - 1])
def test_k_beyond_int32_is_400_not_wrapped(app, k):
    status, body = http(app, "POST", PREDICT, predict_body(k=k))
    assert status == 400, body
    assert f"input 'k' holds {k}, outside the int32 range" in body["error"]


def test_k_within_range_still_answers(app):
    status, body = http(app, "POST", PREDICT, predict_body(k=3))
    assert status == 200 and len(body["outputs"]["item_ids"][0]) == 3


def huge_proto(values=(b"a", b"b"), dims=(1, 50_000_000)) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        ),
        string_val=list(values),
    )


def test_grpc_refuses_a_declared_shape_before_expanding_it(app):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    )
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "tfrec"
    req.model_spec.signature_name = "retrieval_bruteforce"
    req.inputs["query"].CopyFrom(huge_proto())
    assert req.ByteSize() < 64  # a few bytes on the wire...
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(req, timeout=30)
    # ...refused for what it declares, not after making a 50,000,000-element array
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "declares shape [1, 50000000]" in err.value.details()

    req.inputs["query"].CopyFrom(huge_proto(dims=(1, 5)))  # small, but 2 values for 5
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "holds 2 values" in err.value.details()


def test_check_tensor_proto_allows_full_and_scalar_broadcast_tensors():
    check_tensor_proto("q", tf.make_tensor_proto(["a", "b"]), 10)
    check_tensor_proto("k", tf.make_tensor_proto(5, dtype=tf.int32), 10)
    check_tensor_proto("x", tf.make_tensor_proto(7.0, shape=[2, 3]), 10)  # one value, filled
    check_tensor_proto("x", tf.make_tensor_proto([[1.0] * 3] * 2), 10)  # tensor_content
    with pytest.raises(ServingError, match="limit is 10 elements"):
        check_tensor_proto("x", tf.make_tensor_proto(7.0, shape=[11]), 10)
