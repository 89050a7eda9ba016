"""Loading exported versions: a fresh process (nothing imported but the server's own modules)
loads and warms up an export, so the server registers the TF Text and ScaNN ops itself."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LOAD = """
import sys
from pathlib import Path
from tfrec.serving.models import load_version
assert "tensorflow_text" not in sys.modules
for name in ("tfrec", "tfrec_scann"):
    v = load_version(name, Path(sys.argv[1]) / name / "1")
    print(name, v.version, ",".join(sorted(v.signature_defs)))
"""


def test_a_fresh_process_loads_and_warms_up_both_exports(exported_run):
    _, run, *_ = exported_run
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(run.root / "export")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("tfrec 1 ") and "retrieval_bruteforce" in lines[0]
    assert lines[1].startswith("tfrec_scann 1 ") and ",retrieval," in lines[1]
