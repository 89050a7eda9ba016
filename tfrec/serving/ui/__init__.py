"""The web UI of `tfrec serve` at `/ui`: static pages (HTML, CSS, vanilla JavaScript modules,
shipped in this package under `static/`) that talk only to the server's JSON endpoints.

`ui_response(path)` answers a request path `/ui`, `/ui/` or `/ui/<asset>` as
`(status, body, content_type)`; a front end mounts it behind the API's authentication.
"""

from tfrec.serving.ui.assets import ui_response

__all__ = ["ui_response"]
