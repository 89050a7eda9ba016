"""Request bodies as JSON, checked so that no body a client sends becomes a 500: too deep a
nesting (Python's parser recurses: 10,000 `[` raise RecursionError) and lone UTF-16 surrogates
(`"\\ud800"` parses to a str that cannot be encoded as UTF-8) are 400s that say so.

The front end calls `parse_json_body(raw)` on the bytes of a body; it knows nothing of the HTTP
server, so any front end (http.server, an ASGI app) uses it as is.
"""

from __future__ import annotations

import json
import re

import numpy as np

from tfrec.serving.models import ServingError

MAX_JSON_DEPTH = 64  # TF Serving tensors and item rows nest a few levels; this is plenty
# a JSON escape of a UTF-16 surrogate: only escapes can put a lone one in a parsed string
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = np.zeros(256, np.int64)  # bracket byte -> +1 (opens) / -1 (closes)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_STEP.setflags(write=False)


def parse_json_body(raw: bytes, max_depth: int = MAX_JSON_DEPTH):
    """The parsed JSON of a request body, or a `ServingError` (400) that says what is wrong.

    Args:
        raw: the body's bytes (UTF-8).
        max_depth: the deepest nesting of arrays and objects accepted.

    Returns:
        the parsed value.

    Raises:
        ServingError: not JSON, not UTF-8, nested deeper than `max_depth`, or a string (value
            or key) holding a lone UTF-16 surrogate.

    Example:
        >>> parse_json_body(b'{"inputs": {"query": ["mug"]}}')
        {'inputs': {'query': ['mug']}}
        >>> parse_json_body(b"[" * 100 + b"]" * 100)
        Traceback (most recent call last):
        ...
        tfrec.serving.models.ServingError: JSON nests deeper than 64 levels
    """
    if raw.count(b"[") + raw.count(b"{") > max_depth and _too_deep(raw, max_depth):
        raise ServingError(f"JSON nests deeper than {max_depth} levels")
    try:
        value = json.loads(raw)
    except RecursionError:  # not reached after the scan above; kept as the last guard
        raise ServingError(f"JSON nests deeper than {max_depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ServingError(f"JSON Parse error: {e}") from None
    if _SURROGATE_ESCAPE.search(raw):
        where = _lone_surrogate(value)
        if where is not None:
            raise ServingError(
                f"JSON Parse error: a string at {where} holds a lone UTF-16 surrogate "
                "(\\ud800-\\udfff not part of a pair); send valid Unicode"
            )
    return value


def _too_deep(raw: bytes, max_depth: int) -> bool:
    """Whether arrays/objects nest deeper than `max_depth` (brackets in strings do not count);
    C-speed: strings removed by one regex, the brackets' running depth summed by numpy."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    steps = _STEP[np.frombuffer(brackets, np.uint8)]
    return bool(steps.size) and int(np.cumsum(steps).max()) > max_depth


def _lone_surrogate(value) -> str | None:
    """The path (`$.inputs.query[0]`) of the first string holding a lone surrogate, or None."""
    stack = [(value, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _has_surrogate(node):
                return path
        elif isinstance(node, dict):
            for k, v in node.items():
                if _has_surrogate(k):
                    return f"{path} (a key)"
                stack.append((v, f"{path}.{k}"[:200]))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]"[:200]) for i, v in enumerate(node))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
