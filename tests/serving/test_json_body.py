"""Request bodies: too deep a nesting and lone surrogates are 400s with a clear message (they
were 500s: RecursionError, UnicodeEncodeError); brackets inside strings are not nesting."""

import json

import pytest

from tfrec.serving.json_body import MAX_JSON_DEPTH, parse_json_body
from tfrec.serving.models import ServingError


@pytest.mark.parametrize(
    "raw,words",
    [
        (b"[" * 10_000 + b"]" * 10_000, "deeper than"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "deeper than"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "deeper than"),
        (b'{"items": [{"item_id": "n1", "title": "\\ud800"}]}', "$.items[0].title"),
        (b'{"inputs": {"query": ["\\uDFFF x"]}}', "lone UTF-16 surrogate"),
        (b'{"\\ud800": 1}', "(a key)"),
        (b"{not json", "JSON Parse error"),
        (b'"\xff"', "JSON Parse error"),
    ],
)
def test_bad_bodies_are_serving_errors(raw, words):
    with pytest.raises(ServingError) as err:
        parse_json_body(raw)
    assert err.value.status == 400 and words in err.value.message


def test_good_bodies_parse():
    deep = b"[" * MAX_JSON_DEPTH + b"1" + b"]" * MAX_JSON_DEPTH
    assert parse_json_body(deep) is not None
    # brackets inside strings, escaped quotes, and a valid surrogate pair (an emoji)
    body = {"q": "[" * 500 + '"\\', "e": "\U0001f600", "rows": [[1, 2]] * 300}
    assert parse_json_body(json.dumps(body).encode()) == body
