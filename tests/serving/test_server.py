"""The server speaks TF Serving's REST and gRPC APIs (official client) and gives the in-process
model's results; bad input gets a 4xx in TF Serving's error format and the server keeps going."""

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_client import http
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from tfrec.export.retrieval import reference_top_k

QUERY = {
    "query": ["mug", ""],
    "user_id": ["u1", "nobody"],
    "recent_item_ids": [["i3", ""], ["", ""]],
}


def in_process(exported_run, k=5, scann=False):
    _, _, data, model, index = exported_run
    q = {key: np.array(v, dtype=object) for key, v in QUERY.items()}
    return reference_top_k(model, data, index, q, k, scann)


def test_status_and_metadata(app):
    status, body = http(app, "GET", "/v1/models/tfrec")
    assert status == 200
    assert body["model_version_status"][0] == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    status, body = http(app, "GET", "/v1/models/tfrec_scann/metadata")
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {
        "query_encoder",
        "item_encoder",
        "retrieval",
        "retrieval_bruteforce",
        "serving_default",
    } <= set(sigs)
    retrieval = sigs["retrieval"]
    assert retrieval["inputs"]["query"]["dtype"] == "DT_STRING"
    assert retrieval["inputs"]["recent_item_ids"]["dtype"] == "DT_STRING"
    assert retrieval["inputs"]["k"]["dtype"] == "DT_INT32"
    assert retrieval["outputs"]["item_ids"]["dtype"] == "DT_STRING"
    assert retrieval["outputs"]["scores"]["dtype"] == "DT_FLOAT"


@pytest.mark.parametrize(
    "model,sig,scann",
    [("tfrec", "retrieval_bruteforce", False), ("tfrec_scann", "retrieval", True)],
)
def test_rest_columnar_predict_equals_in_process(app, exported_run, model, sig, scann):
    status, body = http(
        app,
        "POST",
        f"/v1/models/{model}:predict",
        {"signature_name": sig, "inputs": {**QUERY, "k": 5}},
    )
    assert status == 200, body
    assert body["outputs"]["item_ids"] == in_process(exported_run, 5, scann)


def test_rest_row_format_and_version_path(app, exported_run):
    _, _, data, model, _ = exported_run
    instances = [
        {"query": q, "user_id": u, "recent_item_ids": r} for q, u, r in zip(*QUERY.values())
    ]
    status, body = http(
        app,
        "POST",
        "/v1/models/tfrec/versions/1:predict",
        {"signature_name": "query_encoder", "instances": instances},
    )
    assert status == 200, body
    got = np.array(body["predictions"])  # one output: a list of embeddings
    feats = {
        "query": tf.constant(QUERY["query"]),
        "user_idx": data.user_vocab.lookup(QUERY["user_id"]),
        "history": np.stack([data.item_vocab.lookup(r) for r in QUERY["recent_item_ids"]]),
    }
    np.testing.assert_allclose(got, model.query_embeddings(feats).numpy(), atol=1e-5)


def test_optional_inputs_default_to_anonymous(app, exported_run):
    status, body = http(
        app,
        "POST",
        "/v1/models/tfrec:predict",
        {"signature_name": "retrieval_bruteforce", "inputs": {"query": ["mug"], "k": 3}},
    )
    assert status == 200, body
    assert len(body["outputs"]["item_ids"][0]) == 3


def test_grpc_official_client_equals_in_process(app, exported_run):
    channel = grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "tfrec_scann"
    req.model_spec.signature_name = "retrieval"
    for k, v in QUERY.items():
        req.inputs[k].CopyFrom(tf.make_tensor_proto(v))
    req.inputs["k"].CopyFrom(tf.make_tensor_proto(5, dtype=tf.int32))
    resp = stub.Predict(req, timeout=30)
    ids = [[x.decode() for x in row] for row in tf.make_ndarray(resp.outputs["item_ids"])]
    assert ids == in_process(exported_run, 5, scann=True)
    assert resp.model_spec.version.value == 1

    meta = stub.GetModelMetadata(
        get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec={"name": "tfrec"}, metadata_field=["signature_def"]
        ),
        timeout=30,
    )
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    meta.metadata["signature_def"].Unpack(sig_map)
    assert "retrieval" not in sig_map.signature_def  # stock-ops model has no ScaNN signature
    assert (
        sig_map.signature_def["item_encoder"].inputs["price"].dtype == tf.float32.as_datatype_enum
    )

    bad = predict_pb2.PredictRequest()
    bad.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(bad, timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    req.inputs["k"].CopyFrom(tf.make_tensor_proto(10_000, dtype=tf.int32))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


BAD = [
    ("POST", "/v1/models/tfrec:predict", None, b"{not json", 400, "JSON"),
    (
        "POST",
        "/v1/models/tfrec:predict",
        {"inputs": {"query": [["a"]], "k": 3}, "signature_name": "retrieval_bruteforce"},
        None,
        400,
        "shape",
    ),
    (
        "POST",
        "/v1/models/tfrec:predict",
        {"inputs": {"query": [1.5], "k": 3}, "signature_name": "retrieval_bruteforce"},
        None,
        400,
        "DT_STRING",
    ),
    (
        "POST",
        "/v1/models/tfrec:predict",
        {"inputs": {"query": ["a"], "k": "x"}, "signature_name": "retrieval_bruteforce"},
        None,
        400,
        "int32",
    ),
    (
        "POST",
        "/v1/models/tfrec:predict",
        {"inputs": {"query": ["a"], "k": 100000}, "signature_name": "retrieval_bruteforce"},
        None,
        400,
        "k must be",
    ),
    (
        "POST",
        "/v1/models/tfrec:predict",
        {"inputs": {"query": ["a"], "k": 3}, "signature_name": "nope"},
        None,
        400,
        "nope",
    ),
    (
        "POST",
        "/v1/models/tfrec:predict",
        {"instances": [{"query": "a", "k": 3}], "signature_name": "retrieval_bruteforce"},
        None,
        400,
        "shape",
    ),
    ("POST", "/v1/models/nope:predict", {"inputs": {"query": ["a"]}}, None, 404, "nope"),
    ("POST", "/v1/models/tfrec/versions/7:predict", {"inputs": {"query": ["a"]}}, None, 404, "7"),
    (
        "POST",
        "/v1/models/tfrec:predict",
        None,
        b'{"inputs": {"query": ["' + b"x" * 70_000 + b'"]}}',
        413,
        "exceeds",
    ),
    ("GET", "/search?q=", None, None, 400, "non-empty"),
    ("GET", "/search?q=mug&k=1000", None, None, 400, "k must be"),
    ("GET", "/search?q=mug&k=ten", None, None, 400, "integer"),
    ("GET", "/similar?item_id=does-not-exist", None, None, 404, "unknown item id"),
]


@pytest.mark.parametrize("method,path,body,raw,status,words", BAD)
def test_bad_input_gets_tf_serving_error_and_server_survives(
    app, method, path, body, raw, status, words
):
    got, payload = http(app, method, path, body, raw=raw)
    assert got == status, payload
    assert set(payload) == {"error"} and words in payload["error"]
    assert http(app, "GET", "/healthz")[0] == 200


def test_product_endpoints(app, exported_run):
    _, _, data, _, _ = exported_run
    status, body = http(app, "GET", "/search?q=mug&k=5")
    assert status == 200 and len(body["items"]) == 5
    assert all(it["title"].startswith("item number") for it in body["items"])
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True)
    status, body = http(app, "GET", "/recommend?user_id=somebody-new&k=4")
    assert status == 200 and len(body["items"]) == 4 and body["user_known"] is False
    status, body = http(app, "GET", "/similar?item_id=i3&k=4&category=A%20%3E%20B")
    assert status == 200 and "i3" not in [it["item_id"] for it in body["items"]]
    assert all(it["category"].startswith("A > B") for it in body["items"])


def test_recommend_leaves_out_items_the_user_interacted_with(app):
    _, ctx = app.pipeline.current()
    user = next(iter(ctx.user_seen))
    seen = {ctx.item_ids[i] for i in ctx.user_seen[user]}
    _, body = http(app, "GET", f"/recommend?user_id={user}&k=20")
    assert body["source"] == "personalised" and len(body["items"]) == 20
    assert not seen & {it["item_id"] for it in body["items"]}


def test_metrics_are_prometheus_text(app):
    http(app, "GET", "/search?q=mug")
    req = urllib.request.urlopen(f"http://127.0.0.1:{app.port}/metrics", timeout=10)
    text = req.read().decode()
    assert 'tfrec_requests_total{endpoint="/search",code="200"}' in text
    assert 'tfrec_model_version{model="tfrec"} ' in text


def test_keep_alive_survives_a_rejected_post_and_a_negative_length(app):
    """A POST refused before its body is read must not leave the body to be parsed as the next
    request on the same connection; a negative Content-Length is a 400, not a hung thread."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    body = json.dumps({"instances": [{"query": "mug"}]})
    conn.request("POST", "/no/such/path", body=body)  # refused before the body is read
    first = conn.getresponse()
    assert first.status == 404
    first.read()
    conn.request("GET", "/healthz")  # same connection object (reopened if the server closed it)
    second = conn.getresponse()
    assert second.status == 200, second.read()
    second.read()
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.putrequest("POST", "/v1/models/tfrec:predict")
    conn.putheader("Content-Length", "-5")
    conn.endheaders()
    bad = conn.getresponse()
    assert bad.status == 400
    assert "Content-Length" in json.loads(bad.read())["error"]
    conn.close()


def test_blas_threads_are_capped_while_serving(exported_run):
    # OpenBLAS's own threads contend with TensorFlow's pools under concurrent requests: the
    # server caps them (serving.blas_threads) and gives the process its limits back on stop
    from threadpoolctl import threadpool_info

    from tfrec.serving.server import ServingApp

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    cfg, run, *_ = exported_run
    before = blas_threads()
    server = ServingApp(run.root, port=0, grpc_port=None, config=cfg.serving, run_config=cfg)
    server.start()
    try:
        assert blas_threads() and all(n == cfg.serving.blas_threads == 1 for n in blas_threads())
    finally:
        server.stop()
    assert blas_threads() == before
