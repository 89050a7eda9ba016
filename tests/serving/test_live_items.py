"""Durable live adds: `POST /v1/items` is journaled (fsync) before its 200 and replayed at
start-up, so an acknowledged item survives a restart and `kill -9`; one server writes a journal;
a journal that cannot be written refuses the add instead of acknowledging it."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from serving_client import ServeProcess, http

from tfrec.core.journal import read_journal
from tfrec.core.rundir import RunDir
from tfrec.core.runlock import RunLockedError
from tfrec.serving.server import ServingApp
from tfrec.shop.context import normalise_rows

KEY = {"X-API-Key": "k"}
NEW = {
    "item_id": "n1",
    "title": "item number 3 deluxe",
    "category": "A > B > C",
    "brand": "brand3",
    "price": 12.5,
}
NEW2 = {"item_id": "n2", "title": "enamel camping mug"}


def run_copy(exported_run, tmp_path) -> Path:
    _, run, *_ = exported_run
    root = tmp_path / "run"
    shutil.copytree(run.root, root)
    return root


def start(exported_run, root, key="k"):
    cfg = exported_run[0]
    return ServingApp(
        root, port=0, grpc_port=None, api_key=key, config=cfg.serving, run_config=cfg
    ).start()


def similar(app, item_id, headers=KEY):
    return http(app, "GET", f"/similar?item_id={item_id}&k=3", headers=headers)


def test_adds_are_journaled_before_the_200_and_replayed_at_start_up(
    exported_run, tmp_path, monkeypatch
):
    root = run_copy(exported_run, tmp_path)
    journal = RunDir(root).item_journal
    app = start(exported_run, root)
    synced, fsync = [], os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    try:
        status, body = http(app, "POST", "/v1/items", {"items": [NEW]}, KEY)
        assert status == 200 and body["added"] == 1, body
        # the journal was created: the file and its folder were fsync'ed before the 200
        assert str(journal) in synced and str(root) in synced
        (record,) = read_journal(journal).records
        assert record["items"] == [NEW]
        assert record["model"] == {"name": "tfrec_scann", "version": 1}
        status, before = similar(app, "n1")
        assert status == 200

        # a second server writing the same journal is refused, naming this process
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            start(exported_run, root)

        # a journal that cannot be written: a 503, and nothing is added or acknowledged
        def full_disk(record):
            raise OSError(28, "No space left on device")

        app.journal._writer.append = full_disk
        status, body = http(app, "POST", "/v1/items", {"items": [NEW2]}, KEY)
        assert status == 503 and "nothing was added" in body["error"], body
        assert str(root) not in body["error"]
        assert similar(app, "n2")[0] == 404
    finally:
        app.stop()

    # restarted (read-only: no API key), the journaled item is served as before
    app = start(exported_run, root, key=None)
    try:
        status, after = similar(app, "n1", headers={})
        assert status == 200 and after == before
        version, ctx = app.pipeline.current()
        inputs = {k: np.array([v], np.float32 if k == "price" else object) for k, v in NEW.items()}
        want = version.run("item_encoder", inputs | {"description": np.array([""], object)})
        np.testing.assert_allclose(
            ctx.item_embeddings[ctx.item_index("n1")],
            normalise_rows(want["embedding"])[0],
            atol=1e-5,
        )
        assert similar(app, "n2", headers={})[0] == 404
    finally:
        app.stop()


def serve_with_key(root: Path) -> ServeProcess:
    """`tfrec serve ROOT --api-key k` in a subprocess (`serving_client.ServeProcess`)."""
    return ServeProcess(root, "--api-key", "k")


@pytest.mark.slow
def test_acknowledged_adds_survive_kill_9_and_a_torn_record(exported_run, tmp_path):
    root = run_copy(exported_run, tmp_path)
    journal = RunDir(root).item_journal
    first = serve_with_key(root)
    try:
        for item in (NEW, NEW2):
            status, body = http(first, "POST", "/v1/items", {"items": [item]}, KEY)
            assert status == 200 and body["item_ids"] == [item["item_id"]], body
        before = {i: similar(first, i) for i in ("n1", "n2")}
        assert all(status == 200 for status, _ in before.values())
    finally:
        first.kill()
    # the crash hit a third add while it was written: half a record, never acknowledged
    with open(journal, "ab") as f:
        f.write(json.dumps({"v": 1, "items": [{"item_id": "n3", "title": "torn"}]})[:30].encode())

    second = serve_with_key(root)
    try:
        assert {i: similar(second, i) for i in ("n1", "n2")} == before
        assert similar(second, "n3")[0] == 404
        assert "removed an incomplete last record" in second.output
        assert "replaying 2 items from 2 records" in second.output
        status, _ = http(second, "POST", "/v1/items", {"items": [{**NEW2, "item_id": "n4"}]}, KEY)
        assert status == 200
    finally:
        second.kill()
    records = read_journal(journal)
    assert records.torn_bytes == 0
    assert [r["items"][0]["item_id"] for r in records.records] == ["n1", "n2", "n4"]
