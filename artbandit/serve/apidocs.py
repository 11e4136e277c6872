"""`/docs` without a network, and an OpenAPI document clients can be generated from.

Why: FastAPI's default /docs page loads Swagger UI from a CDN, so behind a firewall (or offline) it
was blank. The assets come from the `swagger-ui-bundle` wheel (Swagger UI's own release files,
Apache-2.0, installed as a dependency) and are served under /docs/static/ (a fixed allowlist of
file names). Swagger UI 4 reads OpenAPI 3.0, so the document says 3.0.3; the handlers parse their
bodies themselves (bandit.service.wire), so the bodies' schemas and the key scheme are added here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
BASE = "/personalizer"
VERSIONED = "/personalizer/v1.0"

_FEATURES = {
    "type": "array",
    "items": {"type": "object", "additionalProperties": True},
    "description": "Feature objects; nested objects are namespaces (flattened with '.').",
}
_NUM = {"type": "number"}
_STR = {"type": "string"}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "object", "required": ["code", "message"], "properties": {"code": _STR, "message": _STR}}
        },
    },
    "RankableAction": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "maxLength": 256},
            "features": {
                **_FEATURES,
                "description": "The action's features (optional with --catalog: filled in "
                "from the catalogue for a variant id).",
            },
        },
    },
    "RankRequest": {
        "type": "object",
        "required": ["actions"],
        "additionalProperties": False,
        "properties": {
            "contextFeatures": _FEATURES,
            "actions": {"type": "array", "items": {"$ref": "#/components/schemas/RankableAction"}},
            "excludedActions": {"type": "array", "items": _STR},
            "eventId": _STR,
            "deferActivation": {"type": "boolean"},
        },
    },
    "RankedAction": {"type": "object", "properties": {"id": _STR, "probability": _NUM}},
    "RankResponse": {
        "type": "object",
        "properties": {
            "ranking": {"type": "array", "items": {"$ref": "#/components/schemas/RankedAction"}},
            "eventId": _STR,
            "rewardActionId": _STR,
        },
    },
    "RewardRequest": {"type": "object", "required": ["value"], "properties": {"value": _NUM}},
    "Slot": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": _STR,
            "features": _FEATURES,
            "excludedActions": {"type": "array", "items": _STR},
            "baselineAction": _STR,
        },
    },
    "MultiSlotRankRequest": {
        "type": "object",
        "required": ["actions", "slots"],
        "properties": {
            "contextFeatures": _FEATURES,
            "actions": {"type": "array", "items": {"$ref": "#/components/schemas/RankableAction"}},
            "slots": {"type": "array", "items": {"$ref": "#/components/schemas/Slot"}},
            "eventId": _STR,
            "deferActivation": {"type": "boolean"},
        },
    },
    "MultiSlotRankResponse": {
        "type": "object",
        "properties": {
            "slots": {"type": "array", "items": {"type": "object", "properties": {"id": _STR, "rewardActionId": _STR}}},
            "eventId": _STR,
        },
    },
    "MultiSlotRewardRequest": {
        "type": "object",
        "required": ["reward"],
        "properties": {
            "reward": {"type": "array", "items": {"type": "object", "properties": {"slotId": _STR, "value": _NUM}}}
        },
    },
    "ServiceConfiguration": {
        "type": "object",
        "properties": {
            "rewardWaitTime": {"type": "string", "example": "PT10M"},
            "defaultReward": _NUM,
            "rewardAggregation": {"type": "string", "enum": ["earliest", "average", "sum"]},
            "explorationPercentage": _NUM,
            "modelExportFrequency": _STR,
            "logRetentionDays": {"type": "integer"},
            "learningMode": {"type": "string", "enum": ["Online", "Apprentice", "LoggingOnly"]},
        },
    },
    "PolicyContract": {"type": "object", "required": ["arguments"], "properties": {"name": _STR, "arguments": _STR}},
    "EvaluationContract": {
        "type": "object",
        "properties": {
            "name": _STR,
            "startTime": _STR,
            "endTime": _STR,
            "enableOfflineExperimentation": {"type": "boolean"},
            "policies": {"type": "array", "items": {"$ref": "#/components/schemas/PolicyContract"}},
        },
    },
    "Evaluation": {
        "type": "object",
        "properties": {
            "id": _STR,
            "name": _STR,
            "jobId": _STR,
            "startTime": _STR,
            "endTime": _STR,
            "creationTime": _STR,
            "status": {"type": "string", "enum": ["pending", "completed", "failed", "optimalPolicyApplied"]},
            "progress": _NUM,
            "error": _STR,
            "evaluationType": _STR,
            "optimalPolicy": _STR,
            "featureImportance": {"type": "array", "items": {"type": "array", "items": _STR}},
            "policyResults": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": _STR,
                        "arguments": _STR,
                        "policySource": _STR,
                        "totalSummary": {"type": "object", "additionalProperties": True},
                        "summary": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                    },
                },
            },
        },
    },
    "FeatureImportance": {
        "type": "object",
        "properties": {
            "id": _STR,
            "name": _STR,
            "status": _STR,
            "creationTime": _STR,
            "featureScores": {
                "type": "array",
                "items": {"type": "object", "properties": {"featureName": _STR, "score": _NUM}},
            },
        },
    },
    "ModelProperties": {"type": "object", "additionalProperties": True},
    "LogProperties": {"type": "object", "additionalProperties": True},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# (method, path under /personalizer) -> (request body schema or None, {status: response schema or None})
BODIES: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {
    ("post", "/rank"): (_ref("RankRequest"), {"201": _ref("RankResponse")}),
    ("post", "/events/{event_id}/reward"): (_ref("RewardRequest"), {"204": None}),
    ("post", "/events/{event_id}/activate"): (None, {"204": None}),
    ("post", "/multislot/rank"): (_ref("MultiSlotRankRequest"), {"201": _ref("MultiSlotRankResponse")}),
    ("post", "/multislot/events/{event_id}/reward"): (_ref("MultiSlotRewardRequest"), {"204": None}),
    ("post", "/multislot/events/{event_id}/activate"): (None, {"204": None}),
    ("get", "/configurations/service"): (None, {"200": _ref("ServiceConfiguration")}),
    ("put", "/configurations/service"): (_ref("ServiceConfiguration"), {"200": _ref("ServiceConfiguration")}),
    ("get", "/configurations/policy"): (None, {"200": _ref("PolicyContract")}),
    ("put", "/configurations/policy"): (_ref("PolicyContract"), {"200": _ref("PolicyContract")}),
    ("delete", "/configurations/policy"): (None, {"200": _ref("PolicyContract")}),
    ("get", "/model/properties"): (None, {"200": _ref("ModelProperties")}),
    ("get", "/logs/properties"): (None, {"200": _ref("LogProperties")}),
    ("get", "/evaluations"): (None, {"200": {"type": "array", "items": _ref("Evaluation")}}),
    ("post", "/evaluations"): (_ref("EvaluationContract"), {"201": _ref("Evaluation")}),
    ("get", "/evaluations/{evaluation_id}"): (None, {"200": _ref("Evaluation")}),
    ("get", "/featureimportances"): (None, {"200": {"type": "array", "items": _ref("FeatureImportance")}}),
}
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def describe(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document: versioned paths, bodies, errors and the key scheme."""
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, openapi_version="3.0.3"
    )
    comps = doc.setdefault("components", {})
    comps.setdefault("schemas", {}).update(SCHEMAS)
    comps["securitySchemes"] = {
        "subscriptionKey": {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"}
    }
    error = {"description": "Error (one-line message)", "content": {"application/json": {"schema": _ref("Error")}}}
    paths = {}
    for path, ops in doc.get("paths", {}).items():
        if not path.startswith(BASE + "/"):
            paths[path] = ops
            continue
        sub = path[len(BASE) :]
        for method, op in ops.items():
            op["security"] = [{"subscriptionKey": []}]
            request, responses = BODIES.get((method, sub), (None, None))
            if request is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
            if sub == "/model" and method == "put":
                op["requestBody"] = {"required": True, "content": _BINARY}
            if responses is not None:
                op["responses"] = {
                    code: (
                        {"description": "OK"}
                        if schema is None
                        else {"description": "OK", "content": {"application/json": {"schema": schema}}}
                    )
                    for code, schema in responses.items()
                }
            if sub == "/model" and method == "get":
                op["responses"] = {"200": {"description": "the model", "content": _BINARY}}
            op["responses"].pop("422", None)  # bodies are checked by the handlers: 400, never 422
            for code in ("400", "401", "404", "409", "413", "503"):
                op["responses"].setdefault(code, error)
        paths[VERSIONED + sub] = ops
    doc["paths"] = paths
    doc["components"]["schemas"].pop("HTTPValidationError", None)
    doc["components"]["schemas"].pop("ValidationError", None)
    return doc


def mount_docs(app: FastAPI) -> None:
    """/docs (Swagger UI from local files), /docs/static/<asset>, and the described /openapi.json."""
    from swagger_ui_bundle import swagger_ui_path

    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = describe(app)
        return cache["doc"]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=app.title + " - API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    @app.get("/docs/static/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(b"not found", status_code=404)
        return Response(
            (swagger_ui_path / name).read_bytes(),
            media_type=ASSETS[name],
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
