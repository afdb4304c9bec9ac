"""docs/runbooks.md served as HTML at /runbooks, one anchor per alert, so a page's link opens on a phone.

The runbooks use a small part of Markdown (headings, paragraphs, lists, `code`, **bold**, links);
this renders exactly that part rather than pulling in a Markdown library for one page.
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

# the repository's docs beside the package (editable install, tests), else ./docs (the image's /app)
CANDIDATES = (Path(__file__).resolve().parents[2] / "docs" / "runbooks.md", Path("docs") / "runbooks.md")


def anchor(heading: str) -> str:
    """The id of a heading: lower case letters and digits (an alert name lower-cased)."""
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _inline(text: str) -> str:
    out = html.escape(text, quote=True)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)


def render(markdown: str, title: str = "Runbooks") -> str:
    """HTML for the Markdown subset the runbooks use; every heading gets an id."""
    body: list[str] = []
    para: list[str] = []
    items: list[str] = []
    kind = ""  # "ol" or "ul" while a list is open

    def flush() -> None:
        nonlocal kind
        if para:
            body.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            body.append(f"<{kind}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{kind}>")
            items.clear()
            kind = ""

    for raw in markdown.splitlines():
        line = raw.strip()
        heading = re.match(r"(#{1,4})\s+(.*)", line)
        item = re.match(r"(\d+\.|[-*])\s+(.*)", line)
        if not line:
            flush()
        elif heading:
            flush()
            level, text = len(heading.group(1)), heading.group(2)
            body.append(f'<h{level} id="{anchor(text)}">{_inline(text)}</h{level}>')
        elif item:
            if para:
                flush()
            want = "ol" if item.group(1)[0].isdigit() else "ul"
            if items and kind != want:
                flush()
            kind = want
            items.append(item.group(2))
        elif items and raw.startswith(" "):  # an indented line continues the list item
            items[-1] += " " + line
        else:
            if items:
                flush()
            para.append(line)
    flush()
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:46em;margin:auto;padding:0 1em;line-height:1.45}"
        "code{background:#eee;padding:0 .2em}h2{border-top:1px solid #ccc;padding-top:.6em}</style>"
        "</head><body>" + "\n".join(body) + "</body></html>"
    )


def find_runbooks() -> Path | None:
    return next((p for p in CANDIDATES if p.is_file()), None)


def add_runbooks(app: web.Application, path: Path | None = None) -> None:
    """GET /runbooks: the runbooks as HTML, read once at start (they ship with the code)."""
    source = path or find_runbooks()
    page = render(source.read_text(encoding="utf-8")) if source is not None else None
    if page is None:
        log.warning(
            "runbooks not found (looked for %s); /runbooks answers 404 and alert links will not open "
            "(hint: run from the repository or the image, which ship docs/runbooks.md)",
            ", ".join(map(str, CANDIDATES)),
        )

    async def runbooks(_: web.Request) -> web.Response:
        if page is None:
            raise web.HTTPNotFound(reason="runbooks not installed")
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/runbooks", runbooks)
