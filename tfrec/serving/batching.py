"""Server-side batching like TF Serving's: concurrent calls of one signature are grouped into
one call.

TF Serving's `--enable_batching` puts a shared batch scheduler in front of a model: requests
are queued, a batch closes when it holds `max_batch_size` rows or its first request has waited
`batch_timeout_micros`, the batch runs as one session call on `num_batch_threads` threads, and
each request gets its slice of the outputs back; a full queue (`max_enqueued_batches`) answers
UNAVAILABLE. `BatchQueue` does the same for one signature of one loaded version
(`tfrec.serving.models.LoadedVersion.run`): REST and gRPC predicts and the shop endpoints'
query encoder, index search (`neighbors`) and ranker all pass through it.

Only requests that can be stacked share a batch: the same non-batch dimensions and dtype of
every input, and the same value of every scalar input (`neighbors`' `k`). A request larger
than `max_batch_size` runs on its own. Rows are independent in every tfrec signature, so a
batched request gets what it would get alone (up to float rounding of the different batch
shape; BERT pads to the longest text of the batch, which the attention mask ignores).

Threads: the batch threads only wait while TensorFlow runs the call in its own thread pools,
on every core, outside the GIL; the Python request work runs on the REST and gRPC servers'
`serving.threads` worker threads (one process, no worker processes: each would load its own copy
of the models and the live-item journal has one writer).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfrec.serving.errors import ServingError


class _Task:
    __slots__ = ("inputs", "rows", "key", "enqueued", "done", "outputs", "error")

    def __init__(self, inputs: dict, rows: int, key: tuple):
        self.inputs, self.rows, self.key = inputs, rows, key
        self.enqueued = time.perf_counter()
        self.done = threading.Event()
        self.outputs: dict | None = None
        self.error: BaseException | None = None


def stack_key(tensors: dict[str, tf.Tensor]) -> tuple[tuple, int] | None:
    """(what requests must share to be stacked, the batch size), or None when the inputs have
    no common first dimension.

    Args:
        tensors: input name -> tensor of one request.

    Returns:
        `((name, dtype, shape[1:] or the scalar's value), ...)` and the rows, or None.

    Example:
    ```python
    stack_key({"embedding": tf.zeros([2, 8]), "k": tf.constant(10)})
    # ((('embedding', 'float32', (8,)), ('k', 'int32', 10)), 2)
    ```
    """
    key, rows = [], None
    for name in sorted(tensors):
        t = tensors[name]
        if t.shape.rank == 0:
            key.append((name, t.dtype.name, t.numpy().item()))
            continue
        n = int(t.shape[0])
        if rows is None:
            rows = n
        elif n != rows:
            return None
        key.append((name, t.dtype.name, tuple(t.shape[1:])))
    return (tuple(key), rows) if rows else None


class BatchQueue:
    """Groups concurrent calls of one function over stackable inputs into one call.

    Args:
        run: callable taking input name -> tensor (rows stacked along the first dimension) and
            returning output name -> numpy array with the same first dimension.
        name: str. Named in errors and stats, e.g. `tfrec_ranker:1/ranker`.
        max_batch_size: int. The most rows one batched call carries.
        batch_timeout_micros: int. How long the oldest queued request waits for more before
            its batch runs (0: a batch takes whatever queued while the previous one ran).
        max_enqueued_batches: int. Full batches that may wait; beyond, `ServingError` 503.
        num_batch_threads: int. Threads running batches.

    Example:
    ```python
    queue = BatchQueue(lambda t: {"y": (t["x"] * 2).numpy()}, "double", 64, 0, 100, 1)
    queue.call({"x": tf.constant([1.0, 2.0])})  # {"y": array([2., 4.])}
    queue.close()
    ```
    """

    def __init__(
        self,
        run: Callable[[dict], dict],
        name: str,
        max_batch_size: int,
        batch_timeout_micros: int,
        max_enqueued_batches: int,
        num_batch_threads: int,
    ):
        self.run = run
        self.name = name
        self.max_batch_size = int(max_batch_size)
        self.timeout = batch_timeout_micros / 1e6
        self.max_enqueued_rows = int(max_enqueued_batches) * self.max_batch_size
        self._pending: collections.deque[_Task] = collections.deque()
        self._pending_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0  # batched calls made
        self.requests = 0  # requests they carried
        self._threads = [
            threading.Thread(target=self._loop, name=f"batch-{name}-{i}", daemon=True)
            for i in range(int(num_batch_threads))
        ]
        for t in self._threads:
            t.start()

    def call(self, tensors: dict[str, tf.Tensor]) -> dict[str, np.ndarray]:
        """Run `tensors` (one request) in a batch with others; its slice of the outputs."""
        stacked = stack_key(tensors)
        if stacked is None or stacked[1] > self.max_batch_size:
            return self.run(tensors)
        task = _Task(tensors, stacked[1], stacked[0])
        with self._cond:
            if self._closed:  # the version was swapped out: its last requests run alone
                task = None
            elif self._pending_rows + task.rows > self.max_enqueued_rows:
                raise ServingError(
                    f"the batch queue of {self.name} is full ({self._pending_rows} rows wait; "
                    "max_enqueued_batches x max_batch_size); retry later",
                    503,
                    "UNAVAILABLE",
                )
            else:
                self._pending.append(task)
                self._pending_rows += task.rows
                self._cond.notify()
        if task is None:
            return self.run(tensors)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _take(self) -> list[_Task] | None:
        """Wait for a batch: the oldest task and the stackable ones after it, up to
        `max_batch_size` rows, once full or timed out. None once closed and drained."""
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
            first = self._pending[0]
            deadline = first.enqueued + self.timeout
            while not self._closed:
                rows = sum(t.rows for t in self._pending if t.key == first.key)
                left = deadline - time.perf_counter()
                if rows >= self.max_batch_size or left <= 0:
                    break
                self._cond.wait(left)
            batch, rows, kept = [], 0, collections.deque()
            for t in self._pending:
                if t.key == first.key and rows + t.rows <= self.max_batch_size:
                    batch.append(t)
                    rows += t.rows
                else:
                    kept.append(t)
            self._pending = kept
            self._pending_rows -= rows
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                if len(batch) == 1:
                    outputs = [self.run(batch[0].inputs)]
                else:
                    merged = {
                        name: t
                        if t.shape.rank == 0
                        else tf.concat([task.inputs[name] for task in batch], axis=0)
                        for name, t in batch[0].inputs.items()
                    }
                    out = self.run(merged)
                    outputs, start = [], 0
                    for task in batch:
                        end = start + task.rows
                        outputs.append({k: v[start:end] for k, v in out.items()})
                        start = end
                self.batches += 1
                self.requests += len(batch)
                for task, o in zip(batch, outputs, strict=True):
                    task.outputs = o
            except BaseException as e:  # every request of the batch gets the error
                for task in batch:
                    task.error = e
            finally:
                for task in batch:
                    task.done.set()

    def close(self) -> None:
        """Run what is queued, then stop the threads; later calls run unbatched."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=30)
