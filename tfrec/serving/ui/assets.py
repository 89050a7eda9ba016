"""The web UI's static assets, answered by request path (no web framework needed, so any
front end can mount it: `status, body, content_type = ui_response(path)`).

Only plain file names directly in `static/` are served; anything that could name a file
elsewhere (`..`, a slash or backslash after `/ui/`, percent-escapes, NUL) is refused with a 400,
and a name that is not an asset is a 404, both as the API's `{"error": ...}` JSON.
"""

from __future__ import annotations

import json
import re
from importlib import resources

INDEX = "index.html"
# the asset types the UI ships; anything else is not served
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
ASSET_NAME = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")


def _error(status: int, message: str) -> tuple[int, bytes, str]:
    return status, json.dumps({"error": message}).encode(), "application/json"


def ui_response(path: str) -> tuple[int, bytes, str]:
    """The answer to `GET path` for the web UI.

    Args:
        path: str. The request path without its query string: `/ui` or `/ui/` (the page) or
            `/ui/<asset>` (a file of the package's `static/` folder, e.g. `/ui/app.js`).

    Returns:
        (status, body, content_type): 200 with the file; 400 for a path that tries to leave
        the asset folder; 404 for anything else, with `{"error": ...}` JSON.

    Example:
        >>> status, body, ctype = ui_response("/ui/")
        >>> status, ctype
        (200, 'text/html; charset=utf-8')
        >>> ui_response("/ui/../rest.py")[0]
        400
    """
    if path in ("/ui", "/ui/"):
        name = INDEX
    elif path.startswith("/ui/"):
        name = path[len("/ui/") :]
    else:
        return _error(404, f"not a UI path: {path!r} (the UI is at /ui/)")
    if any(bad in name for bad in ("..", "/", "\\", "%", "\x00")):
        return _error(400, f"refused UI asset path {path!r}: only /ui/<file name> is served")
    suffix = name[name.rfind(".") :] if "." in name else ""
    if not ASSET_NAME.match(name) or suffix not in CONTENT_TYPES:
        return _error(404, f"no UI asset {name!r}")
    asset = resources.files(__package__).joinpath("static", name)
    if not asset.is_file():
        return _error(404, f"no UI asset {name!r}")
    return 200, asset.read_bytes(), CONTENT_TYPES[suffix]
