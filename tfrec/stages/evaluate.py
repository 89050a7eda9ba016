"""The `evaluate` stage: the trained retrieval model next to its baselines on the test split;
metrics.json (`retrieval`) and report/index.html."""

from __future__ import annotations

from tfrec.core.log import echo
from tfrec.evaluation.retrieval import evaluate_retrieval, report_notes
from tfrec.report.retrieval import write_report
from tfrec.stages.artifacts import RunArtifacts


def run_evaluate(art: RunArtifacts) -> dict:
    """Evaluate, print the table, write metrics.json and report/index.html."""
    cfg, run = art.cfg, art.run
    data = art.data()
    out = evaluate_retrieval(cfg, data, art.retrieval_model())
    run.save_metrics(out["metrics"])
    path = write_report(
        run.report_page("index"),
        f"tfrec evaluation: {cfg.name}",
        out["sections"],
        report_notes(cfg, data),
    )
    echo(f"[evaluate] metrics in {run.metrics}, report in {path}")
    return out["metrics"]
