"""`training.strategy: parameter_server` really run: a coordinator, 2 workers and 2 parameter
servers, each its own process on 127.0.0.1 (one `TF_CONFIG` each, free ports), train the tiny
shop's retrieval model with Keras `fit` on per-worker datasets
(tests/training/parameter_server_job.py, `tfrec.training.parameter_server`).

What is checked: the user and item id embedding tables are `ShardedVariable`s split row-wise
across both parameter servers (no one device holds a whole table); the zero-initialised item id
table is non-zero after training (the workers' gradients reached its shards through the
sharded lookup); `fit` ran the asked steps; the trained model retrieves from the catalog.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tfrec.config import TrainingConfig
from tfrec.core.distribute import get_strategy

JOB = Path(__file__).resolve().parent / "parameter_server_job.py"


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(args: list[str], tf_config: dict, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["TF_CONFIG"] = json.dumps(tf_config)
    with open(log, "w") as f:
        return subprocess.Popen(
            [sys.executable, str(JOB), *args], env=env, stdout=f, stderr=subprocess.STDOUT
        )


def test_parameter_server_needs_a_cluster_with_ps(monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
        ),
    )
    with pytest.raises(RuntimeError, match="no cluster with `ps` and `worker` tasks"):
        get_strategy(TrainingConfig(strategy="parameter_server"))


@pytest.mark.slow
def test_parameter_servers_shard_the_id_tables(tmp_path, tiny_bert_dir):
    ports = _free_ports(5)
    cluster = {
        "chief": [f"127.0.0.1:{ports[0]}"],
        "worker": [f"127.0.0.1:{p}" for p in ports[1:3]],
        "ps": [f"127.0.0.1:{p}" for p in ports[3:5]],
    }
    servers = [
        _start(
            ["--role", "server"],
            {"cluster": cluster, "task": {"type": kind, "index": i}},
            tmp_path / f"{kind}{i}.log",
        )
        for kind in ("worker", "ps")
        for i in range(2)
    ]
    try:
        coordinator = _start(
            ["--role", "coordinator", "--bert", str(tiny_bert_dir), "--out", str(tmp_path)]
            + ["--steps", "4", "--epochs", "2", "--shard-min-bytes", "256"],
            {"cluster": cluster, "task": {"type": "chief", "index": 0}},
            tmp_path / "chief.log",
        )
        assert coordinator.wait(timeout=400) == 0, (tmp_path / "chief.log").read_text()[-4000:]
    finally:
        for p in servers:
            p.kill()
            p.wait(30)

    result = json.loads((tmp_path / "result.json").read_text())
    assert result["workers"] == 2 and result["ps"] == 2
    for name in ("user_table", "item_table"):
        table = result[name]
        shards = table["shards"]
        assert len(shards) == 2, (name, shards)
        assert sum(s["shape"][0] for s in shards) == table["rows"]
        assert {s["device"].split("/device")[0] for s in shards} == {
            "/job:ps/replica:0/task:0",
            "/job:ps/replica:0/task:1",
        }
    assert result["steps_per_epoch"] == 4 and len(result["loss"]) == 2
    assert result["item_table_trained"] > 0  # zero-initialised: only training changes it
    assert 0 < result["val_recall_at_10"] <= 1
    print(
        f"\nparameter servers: user table {result['user_table']['rows']} rows in shards "
        f"{[s['shape'][0] for s in result['user_table']['shards']]}, item table "
        f"{result['item_table']['rows']} rows in shards "
        f"{[s['shape'][0] for s in result['item_table']['shards']]}; loss {result['loss']}, "
        f"val recall@10 {result['val_recall_at_10']:.4f}"
    )
