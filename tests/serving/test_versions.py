"""New versions are swapped in under load without dropping a request; a broken version is
refused and the old one keeps serving."""

import json
import shutil
import threading
import time
import urllib.error
import urllib.request

from serving_client import wait_for

from tfrec.serving.server import ServingApp


def search(port, key=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/search?q=mug&k=3")
    if key:
        req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def test_swap_under_load_drops_nothing_and_broken_version_is_refused(exported_run, tmp_path):
    cfg, run, *_ = exported_run
    root = tmp_path / "run"
    shutil.copytree(run.root, root)
    cfg.serving.poll_seconds = 0.2
    app = ServingApp(root, port=0, grpc_port=None, config=cfg.serving, run_config=cfg).start()
    try:
        results, stop = [], threading.Event()

        def client():
            while not stop.is_set() and len(results) < 400:
                try:
                    status, body = search(app.port)
                    results.append((status, body["model"]["version"]))
                except Exception as e:  # a dropped request
                    results.append((type(e).__name__, None))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        base = root / "export" / "tfrec_scann"
        shutil.copytree(base / "1", base / ".partial")  # invisible until renamed, as export does
        (base / ".partial").rename(base / "2")
        assert wait_for(lambda: app.manager.get("tfrec_scann").version == 2)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert results and all(status == 200 for status, _ in results), set(results)
        assert {v for _, v in results} <= {1, 2}

        # a corrupted version 3 never replaces the good version 2
        shutil.copytree(base / "2", base / "3")
        (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
        assert wait_for(lambda: any(s["version"] == "3" for s in app.manager.status("tfrec_scann")))
        status = {s["version"]: s for s in app.manager.status("tfrec_scann")}
        assert status["2"]["state"] == "AVAILABLE" and status["3"]["state"] == "END"
        assert status["3"]["status"]["error_message"]
        assert (
            search(app.port) == (200, search(app.port)[1])
            and app.manager.get("tfrec_scann").version == 2
        )
    finally:
        app.stop()


def test_api_key(exported_run):
    cfg, run, *_ = exported_run
    app = ServingApp(
        run.root,
        port=0,
        grpc_port=None,
        api_key="s3cret",
        config=cfg.serving,
        run_config=cfg,
    ).start()
    try:
        try:
            search(app.port)
            raise AssertionError("no key accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401 and "API key" in json.loads(e.read())["error"]
        assert search(app.port, "s3cret")[0] == 200
    finally:
        app.stop()


def one_model_export(exported_run, tmp_path):
    """(export dir, model dir) of a copy of the run's `tfrec` model, version 1 only."""
    _, run, *_ = exported_run
    export = tmp_path / "export"
    shutil.copytree(run.export_model("tfrec") / "1", export / "tfrec" / "1")
    return export, export / "tfrec"


def test_a_version_seen_half_copied_loads_once_complete(exported_run, tmp_path, capsys):
    from tfrec.serving.models import ModelManager

    export, model = one_model_export(exported_run, tmp_path)
    manager = ModelManager(export)
    manager.poll()
    assert manager.get("tfrec").version == 1
    # the poll sees version 2 while it is copied in: the SavedModel, no variables yet
    shutil.copytree(model / "1", model / "2", ignore=shutil.ignore_patterns("variables"))
    manager.poll()
    status = {s["version"]: s["state"] for s in manager.status("tfrec")}
    assert status == {"1": "AVAILABLE", "2": "END"}
    manager.poll()  # unchanged on disk: not tried again
    assert capsys.readouterr().out.count("refused tfrec version 2") == 1

    shutil.copytree(model / "1" / "variables", model / "2" / "variables")  # the copy completes
    manager.poll()
    assert manager.get("tfrec").version == 2
    assert [s["version"] for s in manager.status("tfrec")] == ["2"]  # no longer refused
    assert manager.refused_count() == 0


def test_a_non_ascii_digit_directory_is_not_a_version(exported_run, tmp_path):
    from tfrec.serving.models import ModelManager, is_version_name

    export, model = one_model_export(exported_run, tmp_path)
    manager = ModelManager(export)
    manager.poll()
    shutil.copytree(model / "1", model / "\u00b2")  # "²".isdigit() is True, int("²") fails
    shutil.copytree(model / "1", model / "3")
    manager.poll()  # used to raise ValueError on every poll, so 3 never loaded
    assert manager.get("tfrec").version == 3
    assert not is_version_name("\u00b2") and not is_version_name("\u0663")  # Arabic-Indic 3
    assert is_version_name("12")


def test_only_the_listed_models_are_served(exported_run, tmp_path):
    """`serving.models`: the models of export/ to serve, as TF Serving's model config lists them."""
    from tfrec.serving.models import ModelManager

    export, model = one_model_export(exported_run, tmp_path)
    shutil.copytree(model, export / "other")
    manager = ModelManager(export, models=["other"])
    manager.poll()
    assert manager.model_names() == ["other"]
    everything = ModelManager(export)
    everything.poll()
    assert everything.model_names() == ["other", "tfrec"]
