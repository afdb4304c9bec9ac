"""The API's errors in one place (serve/webio.py): the status follows the error's type, never its text;
the passport routes answer through it (an unknown lot or shipment is a NotFoundError, hence 404)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.errors import InputError, NotFoundError, StoreError
from monitor.passport.settings import KEY_ENV, PassportSettings
from monitor.passport.signing import keygen
from monitor.serve.api import add_api
from monitor.serve.http import make_app
from monitor.serve.passport_api import add_passport_routes
from monitor.serve.webio import STORE_RETRY_S
from monitor.store.batches import BatchStore
from tests.test_batch_query import lot


def _app() -> web.Application:
    return make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})


def _app_with(add: Callable[..., None], store: BatchStore) -> web.Application:
    app = _app()
    add(app, store, None, token=None)
    return app


async def test_the_status_follows_the_error_type_not_its_words() -> None:
    app = _app()
    raised = {
        "/gone": NotFoundError("lot 'X'", "gone"),  # no "not found" in its words: still 404
        "/words": InputError("lot 'X'", "not in the store, not found"),  # the words of a 404: still 400
        "/store": StoreError("sqlite:///x.db: database is locked"),
    }

    async def fail(req: web.Request) -> web.Response:
        raise raised[req.path]

    for path in raised:
        app.router.add_get(path, fail)
    async with TestClient(TestServer(app)) as client:
        answers = {}
        for path in raised:
            r = await client.get(path)
            answers[path] = (r.status, (await r.json())["error"], r.headers.get("Retry-After"))
    assert answers == {
        "/gone": (404, "not_found", None),
        "/words": (400, "bad_request", None),
        "/store": (503, "store_unavailable", str(STORE_RETRY_S)),
    }


async def test_passport_routes_answer_404_for_an_unknown_lot_and_shipment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, _, _ = keygen(tmp_path / "keys")
    monkeypatch.setenv(KEY_ENV, str(private))
    store = BatchStore(tmp_path / "blackmass.db")
    store.save(lot(0))
    app = _app()
    add_api(app, store, None, token="t0ken")
    add_passport_routes(app, store, PassportSettings(), token="t0ken")
    with pytest.raises(ValueError, match="another API token"):  # one gate, one token
        add_passport_routes(_app_with(add_api, store), store, PassportSettings(), token="other")
    try:
        async with TestClient(TestServer(app)) as client:
            known = await client.get("/api/batches/L1-00000/passport")
            assert known.status == 200 and (await known.json())["batch_id"] == "L1-00000"
            for path, named in (
                ("/api/batches/NOPE/passport", "batch 'NOPE'"),
                ("/api/batches/L1-00000/passport?line=L9", "on line 'L9'"),
                ("/api/shipments/SHIP-NOPE/passport", "shipment 'SHIP-NOPE'"),
                ("/api/batches/NOPE", "batch 'NOPE'"),
            ):
                r = await client.get(path)
                body = await r.json()
                assert (r.status, body["error"]) == (404, "not_found"), (path, body)
                assert named in body["detail"], body
            # the write goes through the app's one gate: its answer is the API's error body
            r = await client.post("/api/shipments", json={"shipment_id": "S-1", "bags": ["x"]})
            assert (r.status, (await r.json())["error"]) == (401, "unauthorized")
            r = await client.post("/api/shipments", json={"bags": ["x"]}, headers={"Authorization": "Bearer t0ken"})
            assert (r.status, (await r.json())["error"]) == (400, "bad_request")
            r = await client.post("/api/assays", data=b"x", headers={"Authorization": "Bearer t0ken"})
            assert (r.status, (await r.json())["error"]) == (403, "forbidden")  # no accountant: this one only reads
    finally:
        store.close()


def test_pact_routes_map_errors_by_type_into_the_v3_body() -> None:
    import json  # noqa: PLC0415

    from aiohttp.test_utils import make_mocked_request  # noqa: PLC0415

    from monitor.serve.pact_api import pact_answer  # noqa: PLC0415

    req = make_mocked_request("GET", "/3/footprints/x")
    cases = {
        "gone": NotFoundError("footprint 'x'", "gone"),  # no "not found" in its words: still 404
        "words": InputError("footprint 'x'", "not found"),  # the words of a 404: still 400
        "store": StoreError("sqlite:///x.db: database is locked"),
    }
    answers = {}
    for name, exc in cases.items():
        answer = pact_answer(req, exc)
        answers[name] = (answer.status, json.loads(answer.text or "{}")["code"])
    assert answers == {"gone": (404, "NoSuchFootprint"), "words": (400, "BadRequest"), "store": (500, "InternalError")}
    assert "locked" not in (pact_answer(req, cases["store"]).text or "")  # the detail stays in the log
