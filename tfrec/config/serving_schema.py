"""The `serving` section of the config: `tfrec serve` and its server-side batching.

`load_config` checks these fields like every other section (`tfrec.config.values`); they live
apart from `tfrec.config.schema` only to keep one file per role of a readable size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from tfrec.config.fields import param

# the signatures batched by default, with the most rows one batched call carries: a /search
# sends one query row to query_encoder and neighbors and `rank_candidates` rows to the ranker
DEFAULT_MAX_BATCH_SIZE = {
    "query_encoder": 64,
    "neighbors": 64,
    "ranker": 6400,
    "ranker_embedded": 6400,
}


@dataclass
class BatchingConfig:
    """Server-side batching, as TF Serving's `--enable_batching` with a batching parameters file:
    concurrent calls of one signature of one model version are queued and run as one call
    (`tfrec.serving.batching`). REST and gRPC predicts and the shop endpoints go through it.
    Off by default, as in TF Serving: on a 2-core CPU `tfrec bench --only serving` measured it
    at 0.9-1.5x the unbatched throughput (docs/serving.md); turn it on where one call of a batch
    is much cheaper than its requests one by one (an accelerator, many cores)."""

    enabled: bool = False
    # signature name -> the most rows (first dimension, summed over requests) of one batched
    # call, TF Serving's max_batch_size; signatures not named run each request on its own
    max_batch_size: dict[str, int] = param(
        default_factory=lambda: dict(DEFAULT_MAX_BATCH_SIZE), ge=1
    )
    # how long the first request of a batch waits for others (0: a batch takes what queued
    # while the previous one ran, no request waits on purpose)
    batch_timeout_micros: int = param(0, ge=0)
    # batches that may wait per signature; a request that finds the queue full gets 503
    max_enqueued_batches: int = param(100, ge=1)
    # threads running batches per signature (each call uses TensorFlow's thread pools, on every
    # core, outside the GIL)
    num_batch_threads: int = param(1, ge=1)


@dataclass
class ServingConfig:
    """`tfrec serve`: TF Serving REST/gRPC APIs plus /search, /recommend and /similar."""

    host: str = "127.0.0.1"
    port: int = param(8501, ge=0, le=65535)
    grpc_port: int = param(8500, ge=0, le=65535)
    # when set, every request needs the header `X-API-Key: <key>` (gRPC metadata `x-api-key`)
    api_key: Optional[str] = None
    max_body_bytes: int = param(1_048_576, ge=1024)
    # the largest `k` the product endpoints accept
    max_k: int = param(100, ge=1)
    # the largest batch (first dimension) a predict request may carry
    max_batch: int = param(256, ge=1)
    # how often export directories are scanned for new versions
    poll_seconds: float = param(2.0, gt=0)
    # candidates retrieved before ranking and rules cut them to k
    candidates: int = param(200, ge=1)
    # REST (uvicorn): a request's headers and body arrive within request_timeout_seconds (408),
    # with no gap over idle_timeout_seconds (a body short of its Content-Length: 400); at most
    # max_connections open (more: 503); idle keep-alive connections close after keep_alive_seconds
    request_timeout_seconds: float = param(30.0, gt=0)
    idle_timeout_seconds: float = param(5.0, gt=0)
    keep_alive_seconds: float = param(5.0, gt=0)
    max_connections: int = param(512, ge=1)
    # the models of export/ to serve (TF Serving's model config list); empty: every one
    models: list[str] = param(default_factory=list)
    # threads running model and shop work, REST and gRPC each (TF Serving's
    # --rest_api_num_threads); more concurrent requests wait their turn. With batching, a batch
    # holds at most the requests in flight, so this also caps the batch size
    threads: int = param(64, ge=1)
    # threads of numpy's BLAS in the server process (threadpoolctl): requests run side by
    # side on `threads`, TensorFlow has its own pools; more BLAS threads contend for the cores
    blas_threads: int = param(1, ge=1)
    # on SIGTERM, requests in flight (REST and gRPC) get this long to finish before the exit
    graceful_stop_seconds: float = param(10.0, ge=0)
    batching: BatchingConfig = param(default_factory=BatchingConfig)
