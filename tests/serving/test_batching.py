"""Server-side batching (tfrec/serving/batching.py): concurrent calls are grouped into one call
and each request gets what it would get alone; requests that cannot be stacked, oversized ones,
a full queue, errors and a closed queue behave as TF Serving's batch scheduler does."""

import threading

import numpy as np
import pytest
import tensorflow as tf

from tfrec.config.serving_schema import BatchingConfig
from tfrec.serving.batching import BatchQueue, stack_key
from tfrec.serving.errors import ServingError
from tfrec.serving.models import load_version

WAIT = 300_000  # micros: long enough that the concurrent calls of a test meet in one batch


class Recorder:
    """A signature stand-in: y = 2x + k, and the batch sizes it was called with."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False):
        self.sizes: list[int] = []
        self.gate, self.fail = gate, fail
        self.entered = threading.Event()

    def __call__(self, tensors: dict) -> dict:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.sizes.append(int(tensors["x"].shape[0]))
        if self.fail:
            raise ServingError("the model refused the batch")
        k = float(tensors["k"].numpy()) if "k" in tensors else 0.0
        return {"y": (tensors["x"] * 2 + k).numpy()}


def concurrently(fn, args: list) -> list:
    """`fn(a)` for every `a` of `args` on its own thread; results (or exceptions) in order."""
    out = [None] * len(args)

    def one(i):
        try:
            out[i] = fn(args[i])
        except Exception as e:  # returned for the test to look at
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_stack_key_names_trailing_shapes_and_scalar_values():
    key, rows = stack_key({"x": tf.zeros([3, 4]), "k": tf.constant(7)})
    assert rows == 3
    assert key == (("k", "int32", 7), ("x", "float32", (4,)))
    assert stack_key({"x": tf.zeros([2, 4]), "y": tf.zeros([3])}) is None  # no common batch


def test_concurrent_calls_share_one_call_and_get_their_own_rows():
    run = Recorder()
    queue = BatchQueue(run, "double", 64, WAIT, 10, 1)
    inputs = [tf.constant(np.arange(n, dtype=np.float32).reshape(n, 1) + 10 * n) for n in (1, 2, 3)]
    try:
        results = concurrently(lambda x: queue.call({"x": x}), inputs)
    finally:
        queue.close()
    for x, got in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(got["y"], x.numpy() * 2)
    assert run.sizes == [6]  # one call carried the three requests
    assert (queue.batches, queue.requests) == (1, 3)


def test_requests_that_cannot_be_stacked_run_in_different_calls():
    run = Recorder()
    queue = BatchQueue(run, "double", 64, WAIT, 10, 1)
    calls = [
        {"x": tf.ones([1, 2]), "k": tf.constant(1.0)},
        {"x": tf.ones([1, 2]), "k": tf.constant(5.0)},  # another k
        {"x": tf.ones([1, 3]), "k": tf.constant(1.0)},  # another width
        {"x": tf.ones([2, 2]), "k": tf.constant(1.0)},  # stacks with the first
    ]
    try:
        results = concurrently(queue.call, calls)
    finally:
        queue.close()
    assert [float(r["y"][0, 0]) for r in results] == [3.0, 7.0, 3.0, 3.0]
    assert sorted(run.sizes) == [1, 1, 3]


def test_a_request_over_max_batch_size_runs_alone_and_whole():
    run = Recorder()
    queue = BatchQueue(run, "double", 4, 0, 10, 1)
    try:
        out = queue.call({"x": tf.ones([9, 1])})
    finally:
        queue.close()
    assert out["y"].shape == (9, 1) and run.sizes == [9]
    assert queue.batches == 0  # it never entered the queue


def test_a_full_queue_answers_503_and_the_queued_requests_still_complete():
    gate = threading.Event()
    run = Recorder(gate)
    queue = BatchQueue(run, "m:1/sig", 1, 0, 1, 1)  # one row per batch, one batch may wait
    first = threading.Thread(target=queue.call, args=({"x": tf.ones([1, 1])},))
    first.start()
    assert run.entered.wait(10)  # taken by the batch thread, which waits at the gate
    waiting = threading.Thread(target=queue.call, args=({"x": tf.ones([1, 1])},))
    waiting.start()
    while not queue._pending:
        threading.Event().wait(0.01)
    with pytest.raises(ServingError) as e:
        queue.call({"x": tf.ones([1, 1])})
    assert e.value.status == 503 and "m:1/sig" in e.value.message
    gate.set()
    first.join(10)
    waiting.join(10)
    queue.close()
    assert run.sizes == [1, 1]


def test_an_error_reaches_every_request_of_its_batch():
    queue = BatchQueue(Recorder(fail=True), "bad", 64, WAIT, 10, 1)
    try:
        results = concurrently(lambda n: queue.call({"x": tf.ones([n, 1])}), [1, 2])
    finally:
        queue.close()
    assert all(isinstance(r, ServingError) and "refused" in r.message for r in results)


def test_a_closed_queue_runs_what_it_held_then_calls_run_unbatched():
    run = Recorder()
    queue = BatchQueue(run, "double", 64, 5_000_000, 10, 1)  # would wait 5 s for company
    result = {}
    t = threading.Thread(target=lambda: result.update(queue.call({"x": tf.ones([1, 1])})))
    t.start()
    while not queue._pending:
        threading.Event().wait(0.01)
    queue.close()  # does not wait the 5 s: the queued request runs now
    t.join(5)
    assert not t.is_alive() and result["y"].tolist() == [[2.0]]
    assert queue.call({"x": tf.ones([2, 1])})["y"].shape == (2, 1)
    assert run.sizes == [1, 2]
    assert not any(th.is_alive() for th in queue._threads)


def test_batched_query_encoder_and_index_answer_as_unbatched(exported_run):
    """The exported signatures, called by concurrent requests that meet in one batch, return
    what each request gets on its own (BERT pads the batch to its longest query)."""
    _, run, *_ = exported_run
    name = "tfrec_scann" if (run.export / "tfrec_scann").is_dir() else "tfrec"
    path = run.export / name / "1"
    alone = load_version(name, path)
    batched = load_version(name, path)
    batched.enable_batching(BatchingConfig(enabled=True, batch_timeout_micros=WAIT))
    queries = ["red mug", "a much longer query about blue ceramic kitchen plates", "lamp"]

    def encode(version, q):
        inputs = {
            "query": np.array([q], object),
            "user_id": np.array([""], object),
            "recent_item_ids": np.array([[""]], object),
        }
        return version.run("query_encoder", inputs)["embedding"]

    try:
        got = concurrently(lambda q: encode(batched, q), queries)
        queue = batched.batch_queues["query_encoder"]
        assert (queue.batches, queue.requests) == (1, 3)
        for q, emb in zip(queries, got, strict=True):
            np.testing.assert_allclose(emb, encode(alone, q), rtol=1e-5, atol=1e-5)
        embeddings = [np.asarray(e, np.float32) for e in got]
        near = concurrently(
            lambda e: batched.run("neighbors", {"embedding": e, "k": np.int32(5)}), embeddings
        )
        assert batched.batch_queues["neighbors"].batches == 1
        for e, n in zip(embeddings, near, strict=True):
            want = alone.run("neighbors", {"embedding": e, "k": np.int32(5)})
            assert n["item_ids"].tolist() == want["item_ids"].tolist()
    finally:
        batched.close()
