"""One BatchQuery: the CLI and the API parse filters in one place, refuse a bad one by name, and agree."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.cli import main
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import InputError
from monitor.serve.api import add_api
from monitor.serve.http import make_app
from monitor.store.batches import BatchStore
from monitor.store.query import BatchQuery, parse_query

HOUR = 3600.0
# (line, chemistry, feed form, state) of six lots, one starting each hour from 1970-01-01T00:00Z
LOTS = [
    ("L1", "NMC811", "cells", BatchState.COMPLETE),
    ("L1", "LFP", "packs", BatchState.ASSAYED),
    ("L2", "LFP", "packs", BatchState.COMPLETE),
    ("L2", "NMC811", "modules", BatchState.PARTIAL),
    ("L1", "LFP", "cells", BatchState.PARTIAL),
    ("L2", "NMC811", "cells", BatchState.ASSAYED),
]


def lot(n: int) -> BatchResult:
    line, chemistry, form, state = LOTS[n]
    start = n * HOUR
    return BatchResult(
        line=line,
        batch_id=f"{line}-{n:05d}",
        start=start,
        end=start + HOUR,
        state=state,
        chemistry=chemistry,
        feed_form=form,
        streams=(
            StreamMass("feed", 4000.0 + n, "totalizer", start, start + HOUR, 60),
            StreamMass("black_mass", 2000.0, "weighing", start, start + HOUR, 4),
        ),
        yields={"black_mass": 2000.0 / (4000.0 + n)},
        closure=0.5,
    )


@pytest.fixture
def store(tmp_path: Path) -> BatchStore:
    s = BatchStore(tmp_path / "blackmass.db")
    for n in range(len(LOTS)):
        s.save(lot(n))
    return s


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "to"),
        ({"state": "done"}, "state"),
        ({"include_partial": "maybe"}, "include_partial"),
        ({"chemistry": ["NMC811", "LFP"]}, "chemistry"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_filter_is_refused_naming_its_field(given: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as err:
        parse_query(given, label=lambda k: f"<{k}>")
    assert err.value.where == f"<{field}>", str(err.value)
    assert "expected" in err.value.problem or "unknown" in err.value.problem


def test_the_query_parsed_from_text_is_the_value() -> None:
    q = parse_query({"from": "1970-01-01T01:00", "line": ["L1, L2", "L1"], "state": "partial"})
    assert q == BatchQuery(start_from=3600.0, lines=("L1", "L2"), state=BatchState.PARTIAL)
    assert parse_query({"include_partial": True, "chemistry": "", "line": ""}) == BatchQuery(include_partial=True)
    assert q.describe() == "line=L1,L2, state=partial, from=1970-01-01T01:00:00Z"
    # a link that keeps the filters: its parameters read back as the same query
    for given in FILTERS:
        q = parse_query(given)
        assert parse_query(q.params()) == q, given


def test_a_bad_filter_on_the_cli_names_the_flag_and_writes_nothing(
    store: BatchStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    url = f"sqlite:///{store.path}"
    for flag, value in (("--from", "2026-13-01"), ("--state", "done"), ("--to", "soon")):
        assert main(["report", "--store", url, flag, value, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert flag in err and value in err, err
        assert not out.exists()
    assert len(store.latest()) == len(LOTS)  # and the store is as it was


def _cli_ids(url: str, out: Path, given: dict[str, str]) -> list[str]:
    args = ["report", "--store", url, "--format", "csv", "--out", str(out)]
    for k, v in given.items():
        flag = "--" + k.replace("_", "-")
        args += [flag] if k == "include_partial" else [flag, v]
    assert main(args) == 0
    with out.open() as f:
        return [r["batch_id"] for r in csv.DictReader(f)]


FILTERS = [
    {},
    {"line": "L2"},
    {"line": "L1,L2", "chemistry": "LFP"},
    {"chemistry": "LFP", "feed_form": "packs"},
    {"feed_form": "cells", "include_partial": "true"},
    {"state": "partial"},
    {"state": "assayed", "line": "L2"},
    {"from": "1970-01-01T01:00", "to": "1970-01-01T05:00"},
    {"from": "1970-01-01T01:00", "include_partial": "true"},
    {"batch": "L2-00002"},
]


def _expected(given: dict[str, str]) -> list[str]:
    q = parse_query(given)
    keep = []
    for n, (line, chem, form, state) in enumerate(LOTS):
        start = n * HOUR
        ok = (
            (q.lines is None or line in q.lines)
            and q.chemistry in (None, chem)
            and q.feed_form in (None, form)
            and (state is q.state if q.state else q.include_partial or state is not BatchState.PARTIAL)
            and (q.start_from is None or start >= q.start_from)
            and (q.start_to is None or start < q.start_to)
            and q.batch_id in (None, f"{line}-{n:05d}")
        )
        keep += [f"{line}-{n:05d}"] * ok
    return keep


async def test_the_cli_and_the_api_return_the_same_lots_for_the_same_filter(store: BatchStore, tmp_path: Path) -> None:
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, None, token=None)
    url = f"sqlite:///{store.path}"
    async with TestClient(TestServer(app)) as client:
        for n, given in zip(itertools.count(), FILTERS, strict=False):
            want = _expected(given)
            resp = await client.get("/api/batches?" + urlencode(given))
            assert resp.status == 200, await resp.text()
            api = [b["batch_id"] for b in (await resp.json())["batches"]]
            cli = _cli_ids(url, tmp_path / f"r{n}.csv", given)
            assert api == cli == want, given
            assert cli, f"filter {given} takes no lot: it proves nothing"
        for path in ("/api/batches?state=done", "/api/reports/batches.csv?from=2026-13-01", "/api/batches?colour=red"):
            resp = await client.get(path)
            assert resp.status == 400
            body = json.loads(await resp.text())
            field = path.split("?")[1].split("=")[0]
            assert body["error"] == "bad_request" and f"query '{field}'" in body["detail"], body
