"""The reading pages: lots (/), a lot (/lots/{line}/{lot}), the running lot (/live), reports and
the flags' meanings. Each reads the store in a thread and renders a template; nothing here writes."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from monitor.errors import InputError
from monitor.reports.exports import FORMATS, load
from monitor.serve.web import listing, lotview
from monitor.serve.web.context import Web
from monitor.serve.web.flags import MEANINGS, split_flags
from monitor.store.query import FIELDS, BatchQuery, parse_query

GRAFANA_DASHBOARD = "blackmass-yield"  # the dashboard a lot's "open in Grafana" link opens (grafana/)


def _rows(frame: Any) -> list[dict[str, Any]]:
    out = frame.to_dicts()
    for r in out:
        r["shown_flags"] = split_flags(r.get("flags"))
        r["yield_ci"] = lotview.interval(r.get("black_mass_yield_reconciled"), r.get("black_mass_yield_sd"))
    return out


def _lots_handler(w: Web) -> Any:
    async def lots(req: web.Request) -> web.Response:
        try:
            q = listing.parse_query(req.query)
        except InputError as exc:
            return w.page(req, "error.html", status=400, title="Lots", message=str(exc))

        def read() -> dict[str, Any]:
            page, total, choices = w.listing.page(q)
            return {"rows": _rows(page), "total": total, "choices": choices}

        data = await asyncio.to_thread(read)
        pages = max(1, math.ceil(data["total"] / listing.PAGE_SIZE))
        return w.page(
            req,
            "lots.html",
            q=q,
            qs=listing.query_string,
            sorts=listing.SORTS,
            states=listing.STATES,
            pages=pages,
            live=w.settings.live is not None,
            **data,
        )

    return lots


def _live_handler(w: Web) -> Any:
    async def live(req: web.Request) -> web.Response:
        lot = w.settings.live() if w.settings.live is not None else None
        return w.page(req, "live.html", lot=lot, line=w.settings.live_line)

    return live


def _grafana(w: Web, line: str, lot: Any) -> str | None:
    if not w.settings.grafana_url:
        return None
    start, end = lotview.time_range_ms(lot)
    query = urlencode({"from": start, "to": end, "var-line": line})
    return f"{w.settings.grafana_url}/d/{GRAFANA_DASHBOARD}?{query}"


def _lot_handler(w: Web) -> Any:
    async def lot(req: web.Request) -> web.Response:
        line, batch_id = req.match_info["line"], req.match_info["lot"]

        def read() -> dict[str, Any] | None:
            history = w.store.history(line, batch_id)
            if not history:
                return None
            latest = history[-1][0]
            report = load(w.store, BatchQuery.lot(batch_id, line))
            row = _rows(report.batches)[0] if report.batches.height else {}
            return {
                "r": latest,
                "row": row,
                "streams": report.streams.to_dicts(),
                "recoveries": report.recoveries.to_dicts(),
                "versions": lotview.versions(history),
                "bags": lotview.bags(latest, w.store.assays(batch_id)),
                "carbon": latest.carbon,
                "balance": latest.balance,
            }

        data = await asyncio.to_thread(read)
        if data is None:
            return w.page(req, "error.html", status=404, title="Lot", message=f"no lot {batch_id!r} on line {line!r}")
        export = urlencode(BatchQuery.lot(batch_id, line).params())
        return w.page(
            req,
            "lot.html",
            line=line,
            lot=batch_id,
            export=export,
            passport=f"/api/batches/{quote(batch_id, safe='')}/passport?" + urlencode({"line": line}),
            grafana=_grafana(w, line, data["r"]),
            interval=lotview.interval,
            **data,
        )

    return lot


def _reports_handlers(w: Web) -> tuple[Any, Any]:
    async def reports(req: web.Request) -> web.Response:
        choices = await asyncio.to_thread(lambda: w.listing.choices(w.listing.held()))
        return w.page(
            req,
            "reports.html",
            formats=list(FORMATS),
            lines=choices["line"],
            chemistries=choices["chemistry"],
            feed_forms=choices["feed_form"],
            states=listing.STATES,
        )

    async def download(req: web.Request) -> web.StreamResponse:
        """The form's answer: the API's report of the same filters (the CLI's bytes: one render())."""
        fmt = req.query.get("format", "")
        if fmt not in FORMATS:
            return w.page(req, "error.html", status=400, title="Reports", message=f"no report format {fmt!r}")
        given = {k: req.query[k] for k in FIELDS if k in req.query}
        try:
            q = parse_query(given, label=lambda k: f"field '{k}'")  # the API would refuse it in JSON; say it here
        except InputError as exc:
            return w.page(req, "error.html", status=400, title="Reports", message=str(exc))
        raise web.HTTPSeeOther(f"/api/reports/batches.{fmt}?" + urlencode(q.params()))

    return reports, download


def add_pages(app: web.Application, w: Web) -> None:
    reports, download = _reports_handlers(w)

    async def flags(req: web.Request) -> web.Response:
        return w.page(req, "flags.html", meanings=list(MEANINGS.values()))

    app.router.add_get("/", _lots_handler(w))
    app.router.add_get("/live", _live_handler(w))
    app.router.add_get("/lots/{line}/{lot}", _lot_handler(w))
    app.router.add_get("/reports", reports)
    app.router.add_get("/reports/download", download)
    app.router.add_get("/flags", flags)
