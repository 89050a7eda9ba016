"""Error messages name no path of the server's disk: the run directory becomes relative, the
machine's other roots `…` (the load error of a refused version names its directory)."""

import json
import sys
import tempfile
from pathlib import Path

from tfrec.serving.errors import PathRedactor, error_json


def test_the_run_directory_becomes_relative_and_other_roots_are_hidden(tmp_path):
    run = tmp_path / "runs" / "shop"  # under the temporary directory, itself a hidden root
    redact = PathRedactor(run)
    load_error = (
        f"OSError: SavedModel file does not exist at: {run}/export/tfrec/3/"
        "{saved_model.pbtxt|saved_model.pb}"
    )
    assert redact(load_error) == (
        "OSError: SavedModel file does not exist at: export/tfrec/3/"
        "{saved_model.pbtxt|saved_model.pb}"
    )
    assert redact(f"lock {run.resolve()}") == "lock ."
    assert redact(f"in {sys.prefix}/lib/site.py") == "in …/lib/site.py"
    other = Path(tempfile.gettempdir()) / "elsewhere.txt"
    assert redact(f"cannot read {other}") == "cannot read …/elsewhere.txt"
    assert redact("Malformed request: GET /v1/nope") == "Malformed request: GET /v1/nope"


def test_error_json_is_the_tf_serving_format(tmp_path):
    body = error_json(f"no file {tmp_path}/x", PathRedactor(tmp_path))
    assert json.loads(body) == {"error": "no file x"}
