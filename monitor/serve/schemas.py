"""GET /schemas/{name}: the JSON Schemas the project publishes (schemas/), at a stable URL.

PACT footprints name their extension's schema by URL (extensions[].dataSchema =
<[pact] public_url>/schemas/<file>); customers validate our documents against these files.
Only files of the schemas folder are served, by exact name; they are public (plain HTTP too).
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*\.schema\.json$")


def add_schema_routes(app: web.Application, folder: Path = SCHEMAS) -> None:
    published = {p.name: p for p in folder.glob("*.schema.json")} if folder.is_dir() else {}

    async def one(req: web.Request) -> web.Response:
        name = req.match_info["name"]
        path = published.get(name) if _NAME.match(name) else None
        if path is None:
            raise web.HTTPNotFound(
                text=f'{{"error": "not_found", "detail": "no published schema {name[:80]!r}; see /schemas/"}}',
                content_type="application/json",
            )
        return web.Response(
            body=path.read_bytes(), content_type="application/schema+json", headers={"Cache-Control": "max-age=3600"}
        )

    async def index(_: web.Request) -> web.Response:
        return web.json_response({"schemas": sorted(published)})

    app.router.add_get("/schemas/", index)
    app.router.add_get("/schemas/{name}", one)
