"""notebooks/tune_on_colab_tpu.ipynb runs top to bottom on CPU (nbclient), with a tiny shop and
the tiny BERT checkpoint through its TFREC_NB_* parameters: no TPU here, so it must take the
fallback path, tune, pick a winner and export.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "tune_on_colab_tpu.ipynb"


def _outputs(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")


@pytest.mark.slow
def test_colab_tpu_notebook_runs_top_to_bottom_on_cpu(tmp_path, tiny_bert_dir, monkeypatch):
    params = {
        "TFREC_NB_SIZE": "tiny",
        "TFREC_NB_BERT": str(tiny_bert_dir),
        "TFREC_NB_WORKDIR": str(tmp_path / "run"),
        "TFREC_NB_MAX_TRIALS": "2",
        "TFREC_NB_EPOCHS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    for key, value in params.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "\n".join(_outputs(c) for c in nb.cells if c.cell_type == "code")
    assert "tfrec is already installed: nothing to do" in text  # the pip cell was a no-op
    assert "no TPU" in text and "training with the default strategy" in text
    assert "the default config wins" in text or "the best trial beats the default" in text
    exported = tmp_path / "run" / "export" / "tfrec"
    assert any((v / "saved_model.pb").exists() for v in exported.iterdir())
    assert "model_config_list" in text  # models.config was printed
    top = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert _outputs(top).strip().startswith("['")  # the exported model answered a query
