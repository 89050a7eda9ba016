"""A tiny trained run with both retrieval models exported, shared by the export tests (built
once per session)."""

import pytest
from tiny_run import make_tiny_run

from tfrec.export.retrieval import export_model


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_bert_dir):
    """(cfg, run, data, model, index, paths): the tiny run and its exported version paths."""
    cfg, run, data, model, index = make_tiny_run(tmp_path_factory.mktemp("export"), tiny_bert_dir)
    paths = export_model(cfg, run, model, data, index)
    return cfg, run, data, model, index, paths


@pytest.fixture(scope="session")
def with_extras(tmp_path_factory, tiny_bert_dir):
    """(cfg, run, data, model, index) of a tiny run whose items carry config-declared extra
    features (categorical, numeric, text)."""
    return make_tiny_run(tmp_path_factory.mktemp("extras"), tiny_bert_dir, extra_features=True)
