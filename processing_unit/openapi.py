"""/openapi.json built from the route specs and the very pydantic models that validate requests."""

from __future__ import annotations

import html
import re
from typing import Any, Iterable

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from processing_unit.routes.spec import RouteSpec
from processing_unit.schemas import ID_PATTERN, Problem

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)}")


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF, mode="validation")
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required,
         "schema": prop if name in required else _absent_not_null(prop)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _absent_not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is left out, never sent as null: pydantic's
    ``anyOf [X, null]`` for ``X | None`` becomes X (with the title and default kept)."""
    options = prop.get("anyOf")
    if not options or len(options) != 2 or {"type": "null"} not in options:
        return prop
    (kept,) = [o for o in options if o != {"type": "null"}]
    return {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **kept}


def build_openapi(routes: Iterable[RouteSpec], title: str = "spacegrid unit", version: str = "1") -> dict[str, Any]:
    routes = list(routes)
    models: set[type[BaseModel]] = {Problem}
    for r in routes:
        models.update(m for m in (r.body, r.response) if m is not None)
    keyed = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
    _, top = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {"operationId": r.name, "summary": r.summary, "tags": list(r.tags)}
        params: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
            for p in _PARAM.findall(r.path)
        ]
        for h in r.headers:
            schema: dict[str, Any] = {"type": "string"}
            if h.pattern:
                schema["pattern"] = h.pattern
            params.append({"name": h.name, "in": "header", "required": h.required,
                           "description": h.description, "schema": schema})
        if r.query is not None:
            params.extend(_query_parameters(r.query, schemas))
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=r.body.__name__)}}},
            }
        if r.auth != "none":
            op["security"] = [{"bearer": []}]
        ok: dict[str, Any] = {"description": "success"}
        if r.response is not None:
            ok["content"] = {r.content_type: {"schema": {"$ref": _REF.format(model=r.response.__name__)}}}
        elif r.content_type != "application/json":
            ok["content"] = {r.content_type: {"schema": {"type": "string"}}}
        responses: dict[str, Any] = {str(r.status): ok}
        for status in r.errors:
            responses[str(status)] = {
                "description": "problem",
                "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
            }
        op["responses"] = responses
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def route_table(spec: dict[str, Any]) -> str:
    """The routes and schemas as plain HTML tables (the docs page's no-script fallback)."""
    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            auth = "token" if op.get("security") else "anyone"
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td><td>{auth}</td>"
                f"<td>{', '.join(op['responses'])}</td></tr>"
            )
    schemas = []
    for name, schema in spec["components"]["schemas"].items():
        fields = ", ".join(
            f"<code>{html.escape(k)}</code>" + ("*" if k in schema.get("required", []) else "")
            for k in schema.get("properties", {})
        )
        schemas.append(f"<tr><td><b>{html.escape(name)}</b></td><td>{fields}</td></tr>")
    return (
        "<h2>Routes</h2><table><tr><th>method</th><th>path</th><th>what</th><th>who</th><th>answers</th></tr>"
        + "".join(rows)
        + "</table><h2>Schemas</h2><p>Fields marked * are required.</p><table>"
        + "".join(schemas)
        + "</table>"
    )
