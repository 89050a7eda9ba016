"""The OpenAPI 3.1 description of the shop endpoints (and /healthz, /status, /history), served
at `GET /openapi.json`: each endpoint's query parameters (the same lists the endpoints accept,
`pipeline.PARAMS` and `status.VIEWS`, with the ranges of this server's `serving` config), its
response shape, and the error format every status uses (`{"error": "..."}`).

TF Serving's own API (`/v1/models/...`) is TF Serving's: its REST API documentation describes it,
and its official clients are tested against this server.

The document is checked against real responses in tests/serving/test_openapi.py (openapi-core
validates each request and response of every endpoint against it).
"""

from __future__ import annotations

from tfrec.serving.live_items import ITEM_FIELDS
from tfrec.serving.query_params import MAX_LIST, MAX_TEXT, PARAMS
from tfrec.serving.status import VIEWS
from tfrec.shop.similar import DIMENSIONS

OPENAPI_VERSION = "3.1.0"
BOOLEAN_WORDS = ("1", "true", "yes", "on", "", "0", "false", "no", "off")
REF = "#/components/schemas/"
JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": REF + name}


def _nullable(schema: dict) -> dict:
    return {"oneOf": [schema, {"type": "null"}]}


def _object(required: dict, optional: dict | None = None, **extra) -> dict:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
        **extra,
    }


def _parameters(config) -> dict[str, dict]:
    """Every query parameter of the shop endpoints: name -> OpenAPI parameter object."""
    text = {"type": "string", "maxLength": MAX_TEXT}
    id_list = {
        "type": "string",
        "description": f"comma-separated item ids (at most {MAX_LIST})",
    }
    count = {"type": "integer", "minimum": 1, "maximum": config.max_k}
    described = {
        "q": (text, "the search query (non-empty)"),
        "user_id": (text, "the shopper; unknown or absent: a session or popularity feed"),
        "session_items": (
            id_list,
            "items of the current session (ids not in the catalog are "
            "listed in `unknown_session_items`)",
        ),
        "session_queries": (
            {"type": "string", "description": f"comma-separated queries (at most {MAX_LIST})"},
            "searches of the current session",
        ),
        "k": (count, "how many items to return"),
        "size": (count, "how many items the bundle holds"),
        "explain": (
            {"type": "string", "enum": list(BOOLEAN_WORDS)},
            "true: each item carries an `explanation`",
        ),
        "mmr_lambda": (
            {"type": "number", "minimum": 0, "maximum": 1},
            "diversity (maximal marginal relevance): 1 is none, 0 the most",
        ),
        "category": (text, "keep items whose category path starts with this"),
        "retriever": ({"type": "string", "enum": ["dense", "hybrid"]}, "dense or BM25 + dense"),
        "ranker": (
            {"type": "string", "enum": list(BOOLEAN_WORDS)},
            "false: no ranker, the retrieval order (default: the served ranker, if any)",
        ),
        "item_id": (text, "the item"),
        "cart": (id_list, "items already in the cart"),
        "items": (id_list, "the items the bundle goes with"),
        "weights": (
            {
                "type": "string",
                "pattern": r"^\s*$|^([a-z]+\s*[:=]\s*[0-9.eE+-]+\s*)(,\s*[a-z]+\s*[:=]\s*[0-9.eE+-]+\s*)*$",
            },
            f"similarity weights, e.g. semantic:1,behavioural:0.5 (dimensions: "
            f"{', '.join(DIMENSIONS)}); unnamed ones keep the config's",
        ),
    }
    required = {"q", "item_id", "items"}
    return {
        name: {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": description,
            "schema": schema,
        }
        for name, (schema, description) in described.items()
    }


def _schemas(config) -> dict:
    number = {"type": "number"}
    string = {"type": "string"}
    ids = {"type": "array", "items": string}
    dims = _object({d: number for d in DIMENSIONS})
    model = _object({"name": string, "version": {"type": "integer", "minimum": 1}})
    listed = {"rank": {"type": "integer", "minimum": 1}}
    scored = {**listed, "score": number}
    ranker_fields = {
        "retrieval_score": number,
        "p_click": number,
        "p_purchase": number,
        "ranker_score": number,
    }
    common = {"endpoint": string, "model": _ref("ModelRef")}
    filtered = {
        "category": string,
        "filtered": _object({}, {"category": {"type": "integer", "minimum": 0}}),
    }
    ranked_response = {
        "ranker": _nullable(_ref("ModelRef")),
        "ranked_candidates": {"type": "integer"},
    }
    return {
        "Error": _object(
            {"error": {"type": "string", "description": "what went wrong, for a person to read"}},
            additionalProperties=False,
            description="The body of every error response, whatever its status (TF Serving's "
            "format).",
        ),
        "ModelRef": model,
        "Item": _object(
            {
                "item_id": string,
                "title": string,
                "category": string,
                "brand": string,
                "price": _nullable({"type": "number", "minimum": 0}),
            }
        ),
        "Explanation": _object(
            {"reasons": ids},
            {
                "query_terms": ids,
                "closest_history_item": _object(
                    {
                        "item_id": string,
                        "title": string,
                        "similarity": number,
                        "shared_attributes": ids,
                    }
                ),
                "copurchase": _object({"item_id": string, "count": {"type": "integer"}}),
                "coview": _object({"item_id": string, "count": {"type": "integer"}}),
                "popularity": _object(
                    {"rank": {"type": "integer"}, "interactions": {"type": "integer"}}
                ),
            },
        ),
        "RankedItem": {
            "allOf": [
                _ref("Item"),
                _object(scored, {"explanation": _ref("Explanation"), **ranker_fields}),
            ]
        },
        "SimilarItem": {
            "allOf": [
                _ref("Item"),
                _object(
                    {
                        **scored,
                        "scores": dims,
                        "contributions": dims,
                        "coview_count": {"type": "integer"},
                    }
                ),
            ]
        },
        "ComplementaryItem": {
            "allOf": [
                _ref("Item"),
                _object(
                    {
                        **scored,
                        "goes_with": string,
                        "copurchase_count": {"type": "integer"},
                        "coview_count": {"type": "integer"},
                        "same_category": {"type": "boolean"},
                        "evidence": string,
                    }
                ),
            ]
        },
        "BundleItem": {"allOf": [_ref("Item"), _object(listed)]},
        "RecommendResponse": _object(
            {
                **common,
                "ranker": ranked_response["ranker"],
                "user_id": _nullable(string),
                "user_known": {"type": "boolean"},
                "source": {"type": "string", "enum": ["popularity", "session", "personalised"]},
                "unknown_session_items": ids,
                "items": {"type": "array", "items": _ref("RankedItem")},
            },
            {**filtered, "ranked_candidates": ranked_response["ranked_candidates"]},
        ),
        "SearchResponse": _object(
            {
                **common,
                "ranker": ranked_response["ranker"],
                "query": string,
                "user_id": _nullable(string),
                "unknown_session_items": ids,
                "retriever": {"type": "string", "enum": ["dense", "hybrid"]},
                "items": {"type": "array", "items": _ref("RankedItem")},
            },
            {**filtered, "ranked_candidates": ranked_response["ranked_candidates"]},
        ),
        "SimilarResponse": _object(
            {
                **common,
                "item": _ref("Item"),
                "weights": dims,
                "items": {"type": "array", "items": _ref("SimilarItem")},
            },
            filtered,
        ),
        "ComplementaryResponse": _object(
            {
                **common,
                "cart": {"type": "array", "items": _ref("Item")},
                "source": string,
                "items": {"type": "array", "items": _ref("ComplementaryItem")},
            },
            filtered,
        ),
        "BundleResponse": _object(
            {
                **common,
                "cart": {"type": "array", "items": _ref("Item")},
                "items": {"type": "array", "items": _ref("BundleItem")},
                "score": number,
                "total_price": _nullable(number),
            }
        ),
        "NewItem": _object(
            {
                "item_id": {"type": "string", "minLength": 1},
                "title": {"type": "string", "minLength": 1},
            },
            {
                **{
                    f: string for f in sorted(ITEM_FIELDS) if f not in ("item_id", "title", "price")
                },
                "price": {"type": "number", "minimum": 0},
            },
            description="An item in the data contract; columns the run's config declares as "
            "extra features are accepted too.",
        ),
        "AddItemsRequest": _object(
            {
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": config.max_batch,
                    "items": _ref("NewItem"),
                }
            },
            additionalProperties=False,
        ),
        "AddItemsResponse": _object(
            {
                "added": {"type": "integer", "minimum": 0},
                "updated": {"type": "integer", "minimum": 0},
                "item_ids": ids,
                "num_items": {"type": "integer", "minimum": 0},
                "model": _ref("ModelRef"),
            }
        ),
        "Health": _object(
            {
                "status": {"type": "string", "enum": ["ok", "no model loaded"]},
                "models": {"type": "object", "additionalProperties": {"type": "integer"}},
            }
        ),
        "HistoryResponse": _object(
            {
                **common,
                "user_id": string,
                "user_known": {"type": "boolean"},
                "items": {"type": "array", "items": {"allOf": [_ref("Item"), _object(listed)]}},
            }
        ),
        "StatusResponse": _object(
            {
                "endpoint": string,
                "run": string,
                "models": {
                    "type": "array",
                    "items": _object(
                        {"name": string, "versions": {"type": "array"}},
                        {
                            "served": {"type": "integer", "minimum": 1},
                            "signatures": ids,
                            "info": {"type": "object"},
                        },
                    ),
                },
                "shop": _nullable(
                    _object(
                        {
                            "model": _ref("ModelRef"),
                            "ranker": _nullable(_ref("ModelRef")),
                            "num_items": {"type": "integer", "minimum": 0},
                            "num_users": {"type": "integer", "minimum": 0},
                            "sample_users": ids,
                            "max_k": {"type": "integer", "minimum": 1},
                            "defaults": {"type": "object"},
                        }
                    )
                ),
                "evaluation": _nullable({"type": "object"}),
            }
        ),
    }


def _errors(*statuses: int) -> dict:
    words = {
        400: "a parameter or body that is not valid (the message names it)",
        401: "missing or wrong API key",
        403: "live adds are off (no API key configured)",
        404: "an unknown item id, or no such path",
        405: "the path takes another method (see `Allow`)",
        408: "the request did not arrive in time",
        411: "a body without Content-Length",
        413: "a body over serving.max_body_bytes",
        503: "no model is served yet, the connection limit is reached, or the journal write failed",
    }
    error = {JSON: {"schema": _ref("Error")}}
    return {str(s): {"description": words[s], "content": error} for s in statuses}


def _ok(description: str, schema: str) -> dict:
    """A 200 response whose JSON body is `schema`."""
    return {"200": {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def openapi_document(config) -> dict:
    """The OpenAPI 3.1 document of the shop endpoints of a server with `config`.

    Args:
        config: the `ServingConfig` (ranges such as `max_k` come from it).

    Returns:
        the document, as a dict ready for JSON.

    Example:
        >>> from tfrec.config.schema import ServingConfig
        >>> doc = openapi_document(ServingConfig(max_k=50))
        >>> doc["paths"]["/search"]["get"]["parameters"][0]["name"]
        'q'
        >>> [p["schema"] for p in doc["paths"]["/search"]["get"]["parameters"] if p["name"] == "k"]
        [{'type': 'integer', 'minimum': 1, 'maximum': 50}]
    """
    params = _parameters(config)
    order = list(params)
    accepted = {p for names in (*PARAMS.values(), *VIEWS.values()) for p in names}
    undocumented = sorted(accepted - set(params))
    if undocumented:  # a parameter added to an endpoint must be described here too
        raise ValueError(f"tfrec.serving.openapi describes no parameter {undocumented}")
    summaries = {
        "recommend": ("RecommendResponse", "The home feed of a shopper (and session)."),
        "search": ("SearchResponse", "Search the catalog, personalised and ranked."),
        "similar": ("SimilarResponse", "Items similar to one item, by dimension."),
        "complementary": ("ComplementaryResponse", "Items that go with an item or a cart."),
        "bundle": ("BundleResponse", "A small set that goes with the given items."),
    }
    paths = {}
    for endpoint, (schema, summary) in summaries.items():
        names = sorted(PARAMS[endpoint], key=order.index)
        paths[f"/{endpoint}"] = {
            "get": {
                "operationId": endpoint,
                "summary": summary,
                "parameters": [params[n] for n in names],
                "responses": {
                    **_ok("the items", schema),
                    **_errors(400, 401, 404, 405, 503),
                },
            }
        }
    paths["/v1/items"] = {
        "post": {
            "operationId": "add_items",
            "summary": "Add or update items while serving (cold start); journaled before the "
            "200, so an acknowledged item survives a restart. Needs an API key.",
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("AddItemsRequest")}},
            },
            "responses": {
                **_ok("added", "AddItemsResponse"),
                **_errors(400, 401, 403, 405, 408, 411, 413, 503),
            },
        }
    }
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Whether a model is served, and which versions (no API key needed).",
            "security": [],
            "responses": {
                "200": {"description": "serving", "content": {JSON: {"schema": _ref("Health")}}},
                "503": {"description": "no model", "content": {JSON: {"schema": _ref("Health")}}},
            },
        }
    }
    paths["/history"] = {
        "get": {
            "operationId": "history",
            "summary": "A shopper's last distinct items, most recent first (an unknown shopper "
            "has none).",
            "parameters": [
                {**params[n], "required": True, "description": "the shopper"}
                if n == "user_id"
                else params[n]
                for n in sorted(VIEWS["history"], key=order.index)
            ],
            "responses": {
                **_ok("the items", "HistoryResponse"),
                **_errors(400, 401, 405, 503),
            },
        }
    }
    paths["/status"] = {
        "get": {
            "operationId": "status",
            "summary": "What is served: each model's versions (refused ones with their error), "
            "the shop model and its defaults, and the run's evaluation figures.",
            "responses": {
                **_ok("the status", "StatusResponse"),
                **_errors(400, 401, 405),
            },
        }
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "tfrec shop API",
            "version": "1",
            "description": "Search, recommendations, similar and complementary items, bundles "
            "and live item adds of a `tfrec serve` server. Every error, whatever its status, "
            'is a JSON object `{"error": "..."}` (schema Error). TF Serving\'s REST API '
            "(/v1/models/...) is served as TF Serving documents it.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(config),
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "required when the server runs with an API key",
                }
            },
        },
        # a key only when the server has one: both are valid
        "security": [{}, {"ApiKey": []}],
    }
