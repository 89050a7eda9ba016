"""The error every REST status carries: TF Serving's `{"error": "..."}` as JSON (404, 405, 408,
413, 501 and 503 too, never an HTML page), with no on-disk path of the server in it.

Messages come from many places (TensorFlow's load errors name the version directory, an
`OSError` names its file); `PathRedactor` rewrites the run directory to paths relative to it
(`export/tfrec/3/saved_model.pb`) and the machine's other roots (the Python prefix, the home,
temporary and working directories) to `…`, so a client learns what failed, not where the
server keeps its files.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

ELLIPSIS = "…"


class ServingError(Exception):
    """A request error with an HTTP status and a gRPC code name (TF Serving style)."""

    def __init__(self, message: str, status: int = 400, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class PathRedactor:
    """Rewrites the server's on-disk paths in a message.

    Args:
        run_dir: the served run directory; paths under it become relative to it.

    Example:
        >>> redact = PathRedactor("/srv/runs/shop")
        >>> redact("SavedModel file does not exist at: /srv/runs/shop/export/tfrec/3")
        'SavedModel file does not exist at: export/tfrec/3'
        >>> redact(f"cannot open {sys.prefix}/lib/x.so")
        'cannot open …/lib/x.so'
    """

    def __init__(self, run_dir):
        run = Path(run_dir)
        roots = {str(p): "" for p in {run, run.absolute(), run.resolve()}}
        for other in (
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            tempfile.gettempdir(),
            Path.home(),
            Path.cwd(),
        ):
            for p in {Path(other), Path(other).resolve()}:
                roots.setdefault(str(p), ELLIPSIS)
        roots = {r.rstrip("/"): v for r, v in roots.items() if len(r.rstrip("/")) > 1}
        self._roots = roots
        # longest first: the run directory wins over a temporary directory holding it
        self._pattern = re.compile(
            "|".join(re.escape(r) + "/?" for r in sorted(roots, key=len, reverse=True))
        )

    def __call__(self, text: str) -> str:
        def replace(m: re.Match) -> str:
            found = m.group(0)
            slash = found.endswith("/")
            new = self._roots[found.rstrip("/")]
            if not new:  # the run directory: what follows is relative to it
                return "" if slash else "."
            return new + ("/" if slash else "")

        return self._pattern.sub(replace, text) if self._roots else text


def error_json(message: str, redact=None) -> bytes:
    """The body of an error response: `{"error": message}` (paths redacted when `redact` is
    given).

    Args:
        message: what went wrong, for the client.
        redact: a `PathRedactor` (or any str -> str), or None.

    Example:
        >>> error_json("Malformed request: GET /nope")
        b'{"error": "Malformed request: GET /nope"}'
    """
    return json.dumps({"error": redact(message) if redact is not None else message}).encode()
