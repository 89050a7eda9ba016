"""A tiny trained and exported run, shared by the serving tests (built once per session)."""

import pytest
from tiny_run import make_tiny_run

from tfrec.config import save_config
from tfrec.export.retrieval import export_model


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory, tiny_bert_dir):
    """(cfg, run, data, model, index) of a tiny run with both TF Serving models exported."""
    cfg, run, data, model, index = make_tiny_run(tmp_path_factory.mktemp("served"), tiny_bert_dir)
    export_model(cfg, run, model, data, index)
    save_config(cfg, run.config)  # what `tfrec serve RUN_DIR` reads, as a real run has it
    return cfg, run, data, model, index


@pytest.fixture(scope="module")
def app(exported_run):
    from tfrec.serving.server import ServingApp

    cfg, run, *_ = exported_run
    cfg.serving.poll_seconds = 0.2
    cfg.serving.max_k = 20
    cfg.serving.max_body_bytes = 64 * 1024
    server = ServingApp(run.root, port=0, grpc_port=0, config=cfg.serving, run_config=cfg)
    server.start()
    yield server
    server.stop()
