"""`tf.distribute.MultiWorkerMirroredStrategy` really run: two worker processes on 127.0.0.1
(one `TF_CONFIG` each, free ports) train the tiny shop's retrieval model with Keras `fit`
(tests/training/multi_worker_job.py), and the same training runs in one process for comparison.

What is checked: both workers join one cluster of 2 replicas; the global batch is split (each
worker's replica gets global / 2 examples a step) and the steps per epoch equal one process's
(the dataset is sharded by data, `AutoShardPolicy.DATA`); the checkpoint path is written by the
chief only (no worker's temporary directory is left); and the final metrics are printed next to
the single-process ones and agree within a stated tolerance.

Why a tolerance and not equality: TFRS's in-batch softmax takes its negatives from the
replica's own batch, so each of the 2 replicas sees 15 negatives where one process sees 31; the
gradients differ, not only by float reduction order.

Also run: a worker killed mid-epoch, the cluster started again and `BackupAndRestore` resuming
from the last backup (`test_killed_worker_resumes_from_backup`), and the DCN-v2 ranker on two
workers against one process (`test_dcn_ranker_on_two_workers_trains_like_one_process`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

JOB = Path(__file__).resolve().parent / "multi_worker_job.py"
# |multi-worker - single-process| full-catalog validation Recall@10 of the tiny shop (60 items),
# absolute. The training losses are printed, not compared: with in-batch negatives a replica's
# loss is over 16 candidates, one process's over 32, so they are on different scales.
RECALL_TOLERANCE = 0.15


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _job(
    strategy: str, out: Path, bert: Path, tf_config: dict | None, log: Path, extra: tuple = ()
):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    with open(log, "w") as f:
        return subprocess.Popen(
            [
                sys.executable,
                str(JOB),
                "--strategy",
                strategy,
                "--bert",
                str(bert),
                "--out",
                str(out),
                *extra,
            ],
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_two_workers_train_like_one_process(tmp_path, tiny_bert_dir):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    multi = tmp_path / "multi"
    multi.mkdir()
    procs = [
        _job(
            "multi_worker",
            multi,
            tiny_bert_dir,
            {"cluster": cluster, "task": {"type": "worker", "index": i}},
            tmp_path / f"worker{i}.log",
        )
        for i in range(2)
    ]
    try:
        for p in procs:
            p.wait(timeout=400)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
    for i, p in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"worker{i}.log").read_text()[-4000:]

    single = tmp_path / "single"
    single.mkdir()
    one = _job("default", single, tiny_bert_dir, None, tmp_path / "single.log")
    assert one.wait(timeout=400) == 0, (tmp_path / "single.log").read_text()[-4000:]

    workers = [json.loads((multi / f"result_worker{i}.json").read_text()) for i in range(2)]
    ref = json.loads((single / "result_chief0.json").read_text())
    for w in workers:
        assert w["replicas"] == 2
        assert w["global_batch"] == 32 and w["local_batch"] == 16  # the global batch split
        assert w["steps_per_epoch"] == ref["steps_per_epoch"]  # sharded by data, not repeated
        assert w["loss"] == pytest.approx(workers[0]["loss"], rel=1e-5)  # one synchronous model
    assert ref["replicas"] == 1 and ref["local_batch"] == 32

    # checkpoints: the chief (worker 0) wrote the shared path; worker 1 left nothing behind
    ckpts = multi / "checkpoints"
    assert (ckpts / "weights.index").exists()
    assert not [p.name for p in ckpts.iterdir() if p.name.startswith("workertemp")]

    w = workers[0]
    recall_gap = abs(w["val_recall_at_10"] - ref["val_recall_at_10"])
    print(
        f"\nfinal training loss: 2 workers {w['loss'][-1]:.4f}, 1 process {ref['loss'][-1]:.4f}; "
        f"val recall@10: 2 workers {w['val_recall_at_10']:.4f}, 1 process "
        f"{ref['val_recall_at_10']:.4f} (gap {recall_gap:.3f}, tolerance {RECALL_TOLERANCE})"
    )
    assert recall_gap <= RECALL_TOLERANCE


def _two_workers(out: Path, bert: Path, logs: Path, name: str, extras: list[tuple]) -> list:
    """Start a 2-worker cluster on free ports; worker i gets the arguments `extras[i]`."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    return [
        _job(
            "multi_worker",
            out,
            bert,
            {"cluster": cluster, "task": {"type": "worker", "index": i}},
            logs / f"{name}_worker{i}.log",
            extras[i],
        )
        for i in range(2)
    ]


def _stop(procs: list) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(30)


@pytest.mark.slow
def test_killed_worker_resumes_from_backup(tmp_path, tiny_bert_dir):
    """Worker 1 dies after its 8th batch of the one epoch (12 batches); its peer, blocked in
    the next all-reduce, is stopped, and the cluster is started again on the same directories
    (what a cluster manager does). `BackupAndRestore` (every 3 batches) resumes it after batch
    6, the last backup before the failure, and the epoch ends with the optimizer at exactly one
    uninterrupted epoch's steps."""
    out = tmp_path / "run"
    out.mkdir()
    common = ("--epochs", "1", "--backup-every", "3")
    first = _two_workers(
        out, tiny_bert_dir, tmp_path, "first", [common, (*common, "--die-at-step", "8")]
    )
    try:
        assert first[1].wait(timeout=400) == 3, (tmp_path / "first_worker1.log").read_text()[-4000:]
        # the survivor cannot finish the epoch without its peer (it waits or fails)
        with contextlib.suppress(subprocess.TimeoutExpired):
            assert first[0].wait(timeout=5) != 0
    finally:
        _stop(first)
    assert "dying after batch 8" in (tmp_path / "first_worker1.log").read_text()
    assert not (out / "result_worker0.json").exists()

    second = _two_workers(out, tiny_bert_dir, tmp_path, "second", [common, common])
    try:
        for i, p in enumerate(second):
            assert p.wait(timeout=400) == 0, (tmp_path / f"second_worker{i}.log").read_text()[
                -4000:
            ]
    finally:
        _stop(second)
    for i in range(2):
        result = json.loads((out / f"result_worker{i}.json").read_text())
        assert result["resumed_from"] == [0, 5]  # epoch 1, after batch 6
        assert result["steps_per_epoch"] == 12
        assert result["optimizer_steps"] == 12  # 6 restored + the 6 left, none run twice
        assert (
            "resumed from backup: epoch 1, after batch 6"
            in (tmp_path / f"second_worker{i}.log").read_text()
        )
    print(
        f"\nworker 1 killed after batch 8 of 12; resumed after batch 6 (last backup), "
        f"optimizer steps {result['optimizer_steps']} = one epoch; loss {result['loss']}"
    )


# |2 workers - 1 process| validation click AUC of the tiny shop's DCN ranker. Unlike retrieval
# there are no in-batch negatives: each replica's loss is its share of the global batch mean
# (`RankingModel.compute_loss` divides by the replicas), so the summed gradients are one
# process's; what differs is the float summation order, and the per-replica purchase term
# averages over each replica's clicks instead of the global batch's.
RANKER_AUC_TOLERANCE = 0.02
# and the final training loss (Keras logs the replicas' shares summed: the global batch mean),
# relative
RANKER_LOSS_TOLERANCE = 0.02


@pytest.mark.slow
def test_dcn_ranker_on_two_workers_trains_like_one_process(tmp_path, tiny_bert_dir):
    multi, single = tmp_path / "multi", tmp_path / "single"
    multi.mkdir()
    single.mkdir()
    ranker = ("--model", "ranker", "--batch", "64")
    procs = _two_workers(multi, tiny_bert_dir, tmp_path, "ranker", [ranker, ranker])
    procs.append(
        _job("default", single, tiny_bert_dir, None, tmp_path / "ranker_single.log", ranker)
    )
    logs = ["ranker_worker0", "ranker_worker1", "ranker_single"]
    try:
        for p, log in zip(procs, logs):
            assert p.wait(timeout=400) == 0, (tmp_path / f"{log}.log").read_text()[-4000:]
    finally:
        _stop(procs)
    workers = [json.loads((multi / f"ranker_worker{i}.json").read_text()) for i in range(2)]
    ref = json.loads((single / "ranker_chief0.json").read_text())
    assert ref["replicas"] == 1 and ref["local_batch"] == 64
    for w in workers:
        assert w["replicas"] == 2 and w["local_batch"] == 32
        assert w["steps_per_epoch"] == ref["steps_per_epoch"]
        assert w["val_click_auc"] == pytest.approx(workers[0]["val_click_auc"], abs=1e-6)
    gap = abs(workers[0]["val_click_auc"] - ref["val_click_auc"])
    print(
        f"\nDCN ranker: val click AUC 2 workers {workers[0]['val_click_auc']:.4f}, 1 process "
        f"{ref['val_click_auc']:.4f} (gap {gap:.4f}, tolerance {RANKER_AUC_TOLERANCE}); final "
        f"loss 2 workers {workers[0]['loss'][-1]:.4f}, 1 process {ref['loss'][-1]:.4f} "
        f"(relative tolerance {RANKER_LOSS_TOLERANCE})"
    )
    assert gap <= RANKER_AUC_TOLERANCE
    assert workers[0]["loss"][-1] == pytest.approx(ref["loss"][-1], rel=RANKER_LOSS_TOLERANCE)
