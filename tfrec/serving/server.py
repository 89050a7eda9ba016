"""`tfrec serve RUN_DIR`: TF Serving's REST and gRPC APIs on a run's exports, plus the shop
endpoints /recommend, /search, /similar, /complementary, /bundle and POST /v1/items (see
tfrec.serving.pipeline); new versions are swapped in while serving (see tfrec.serving.models).

Start-up binds both ports first (a port in use fails at once, `tfrec.serving.ports`), then, with
an API key (live adds enabled), takes the live-item journal's lock and replays the journal
(`tfrec.serving.live_items`), then loads the models, then serves: REST on uvicorn
(`tfrec.serving.http_server`, the app in `tfrec.serving.rest`), gRPC on grpcio.

`tfrec serve` stops gracefully on SIGTERM (and Ctrl-C): both ports stop accepting, requests in
flight get `serving.graceful_stop_seconds` to finish, then the process exits 0; a second signal
ends it at once.

    from tfrec.serving.server import ServingApp
    app = ServingApp("runs/quickstart", port=0, grpc_port=0).start()   # ports 0: any free port
    ...; app.stop()
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tfrec.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    set_dotted,
)
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.serving.errors import PathRedactor
from tfrec.serving.http_server import RestServer
from tfrec.serving.live_items import LiveItemJournal
from tfrec.serving.metrics import Metrics
from tfrec.serving.models import ModelManager, ServingError
from tfrec.serving.pipeline import ProductPipeline
from tfrec.serving.rest import make_rest_app


class ServingApp:
    """The server: model manager, product pipeline, REST and gRPC front ends.

    Args:
        run_dir: str or Path. A run directory with `export/` (and `data/clean/`).
        host: str. Bind address. Defaults to 127.0.0.1 (loopback only).
        port: int. REST port (0 = any free port). Defaults to 8501.
        grpc_port: int. gRPC port (0 = any free port, None = no gRPC). Defaults to 8500.
        api_key: str or None. Required as `X-API-Key` / gRPC `x-api-key` when set.
        config: a `ServingConfig` with the limits; defaults to the run's config.yaml `serving`.
        run_config: the run's `Config` (data, text and shop sections); defaults to the run's
            config.yaml.
    """

    def __init__(
        self,
        run_dir,
        host="127.0.0.1",
        port=8501,
        grpc_port=8500,
        api_key=None,
        config=None,
        run_config=None,
    ):
        self.run_dir = Path(run_dir)
        self.run_config = run_config if run_config is not None else _run_config(self.run_dir)
        if config is None:
            config = self.run_config.serving
        self.config = config
        self.host, self.port, self.grpc_port = host, port, grpc_port
        self.api_key = api_key if api_key is not None else config.api_key
        self.max_body_bytes = config.max_body_bytes
        export = RunDir(self.run_dir).export
        if not export.is_dir():
            raise FileNotFoundError(
                f"{export} does not exist: export first (`tfrec export CONFIG`)"
            )
        self.metrics = Metrics()
        self.redact = PathRedactor(self.run_dir)  # no on-disk path in what a client reads
        self.manager = ModelManager(
            export, config.poll_seconds, batching=config.batching, models=config.models
        )
        self.pipeline = None
        self.journal = None
        self._http = self._grpc = None
        self._serving = False
        self._blas_limits = None

    def check_batch(self, inputs: dict) -> None:
        for k, v in inputs.items():
            v = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
            if v.ndim and v.shape[0] > self.config.max_batch:
                raise ServingError(
                    f"input '{k}' has a batch of {v.shape[0]}; the limit is {self.config.max_batch}"
                )

    def product(self, endpoint: str, qs: dict) -> dict:
        return self.pipeline.handle(endpoint, qs)

    def add_items(self, body) -> dict:
        if not self.api_key:
            raise ServingError(
                "POST /v1/items changes what is served: start the server with an API key "
                "(--api-key or $TFREC_API_KEY) to enable it",
                403,
                "PERMISSION_DENIED",
            )
        return self.pipeline.add_items(body)

    def metadata_json(self, name: str, version: int | None) -> dict:
        # deferred: TF Serving's protos load with the first metadata request
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2  # deferred: as above

        model = self.manager.get(name, version)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for k, v in model.signature_defs.items():
            sig_map.signature_def[k].CopyFrom(v)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(model.version)},
            "metadata": {
                "signature_def": json_format.MessageToDict(
                    sig_map, preserving_proto_field_name=True
                )
            },
        }

    def start(self) -> ServingApp:
        # deferred: grpc and TF Serving's gRPC stubs load only when the server starts
        from tfrec.serving.grpc_service import make_grpc_server

        # numpy's BLAS (OpenBLAS) runs each matmul on threads of its own, which spin against
        # TensorFlow's pools for the same cores when request threads call it at once (seen
        # under 32 concurrent /search clients); the requests are the parallelism here
        self._blas_limits = threadpool_limits(limits=self.config.blas_threads, user_api="blas")
        try:
            # the ports first: one in use fails now, not after the models load
            self._http = RestServer(
                make_rest_app(self),
                self.host,
                self.port,
                self.config,
                observe=lambda status: self.metrics.observe("other", status, 0.0),
            )
            self.port = self._http.port
            if self.grpc_port is not None:
                self._grpc, self.grpc_port = make_grpc_server(
                    self, self.host, self.grpc_port, self.config.threads
                )
            # with an API key this server writes the live-item journal: it alone may
            self.journal = LiveItemJournal(
                RunDir(self.run_dir),
                self.run_config.data.item_features,
                writable=bool(self.api_key),
            ).open()
            # the pipeline hooks into the manager: each version gets its shop context on load
            self.pipeline = ProductPipeline(
                self.run_dir,
                self.manager,
                self.run_config,
                self.config.candidates,
                self.config.max_k,
                self.config.max_batch,
                journal=self.journal,
            )
            self.manager.start()
            if not self.manager.model_names():
                raise RuntimeError(f"no loadable model version under {self.manager.export_dir}")
            self._http.start()
        except BaseException:
            self.stop()
            raise
        self._serving = True
        if self._grpc is not None:
            self._grpc.start()
        echo(
            f"[serve] REST http://{self.host}:{self.port} gRPC {self.host}:{self.grpc_port}; "
            f"models {', '.join(f'{n}:{self.manager.get(n).version}' for n in self.manager.model_names())}"
            + ("; API key required" if self.api_key else "")
        )
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop serving: both ports stop accepting, requests in flight get `grace` seconds
        (default `serving.graceful_stop_seconds`) to finish, then the models and the journal
        are released.

        Args:
            grace: seconds for requests in flight; None: the config's.
        """
        grace = self.config.graceful_stop_seconds if grace is None else grace
        self.manager.stop()
        grpc_done = None
        if self._http is not None:
            self._http.begin_stop(grace)  # REST and gRPC drain side by side
        if self._grpc is not None:
            grpc_done = self._grpc.stop(grace=grace if self._serving else None)
        if self._http is not None:
            self._http.join(grace)
        if grpc_done is not None:
            grpc_done.wait(grace + 5)
        self._http = self._grpc = None
        self._serving = False
        self.manager.close()
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._blas_limits is not None:
            self._blas_limits.restore_original_limits()
            self._blas_limits = None


def _run_config(run_dir: Path, overrides: dict | None = None):
    """The run's config.yaml (the data, text and shop settings it was trained with), with
    `overrides` (dotted `serving.*` keys -> values, `tfrec serve --set`) applied."""
    overrides = dict(overrides or {})
    other = sorted(k for k in overrides if not k.startswith("serving."))
    if other:
        raise ConfigError(
            f"tfrec serve --set {other[0]}: only serving.* keys can be set when serving (the "
            "other sections describe how the run was trained)"
        )
    path = RunDir(run_dir).config
    if not path.exists():
        echo(f"[serve] WARNING: {path} does not exist; using the default config")
        data = config_to_dict(Config(run_dir=str(run_dir)))
        for key, value in overrides.items():
            set_dotted(data, key, value)
        return config_from_dict(data, "tfrec serve --set")
    return load_config(path, overrides)


def serve(run_dir, host=None, port=None, grpc_port=None, api_key=None, overrides=None) -> None:
    """Run the server until SIGTERM or Ctrl-C, then stop gracefully (`ServingApp.stop`).
    Address, ports and key not given here come from the run's config.yaml `serving` section
    (defaults 127.0.0.1, 8501, 8500, no key); `overrides` sets other `serving.*` keys
    (`tfrec serve --set serving.batching.enabled=true`)."""
    run_config = _run_config(Path(run_dir), overrides)
    conf = run_config.serving
    stop = threading.Event()

    def on_signal(signum, frame):
        echo(
            f"[serve] {signal.Signals(signum).name}: stopping (requests in flight get "
            f"{app.config.graceful_stop_seconds:g} s; signal again to stop at once)"
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        stop.set()

    app = ServingApp(
        run_dir,
        host if host is not None else conf.host,
        port if port is not None else conf.port,
        grpc_port if grpc_port is not None else conf.grpc_port,
        api_key if api_key is not None else conf.api_key,
        run_config=run_config,
    ).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        stop.wait()
    finally:
        app.stop()
    echo("[serve] stopped")
