"""The lots page without rows in memory (after a start, or a write made on the pages) is one page
sorted and counted by the store's SQL (store/paging.py); it must hold the same rows, in the same
order, with the same count, as the page cut from every lot in memory — on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.core.results import BatchState
from monitor.reports.exports import load_batches
from monitor.serve.web.context import Listing
from monitor.serve.web.listing import SORTS, LotQuery, batch_query, in_store, select, window
from monitor.store.migrate import migrate
from monitor.store.query import EVERY
from monitor.store.rows import decode_batches
from monitor.store.url import open_store
from tests.plant_harness import run_plant

pytestmark = pytest.mark.integration
PAGE = 7


def test_a_page_from_the_store_equals_the_page_from_memory(store_url: str, tmp_path: Path) -> None:
    src, _ = run_plant(tmp_path / "plant", seed=34, steps=900, noise=True, delay_h=2)
    lots = src.latest()
    src.save(replace(lots[0], batch_id="P-1", state=BatchState.PARTIAL, line="L2", closure=math.nan))
    src.save(replace(lots[1], batch_id="P-2", line="L2", chemistry="LFP", closure=math.nan))
    for r in lots:  # twins: the same start and numbers under another id (the lot id breaks the tie)
        src.save(replace(r, batch_id=f"T-{r.batch_id}"))
    store = open_store(store_url)
    migrate(src, store)
    src.close()
    every = load_batches(store, EVERY)
    assert every.height >= 15 and every["closure"].null_count() == 2  # unknown values sort last
    chem = every["chemistry"][3]
    queries = [LotQuery(), LotQuery(page=2), LotQuery(page=99), LotQuery(chemistry=chem, sort="yield")]
    queries += [LotQuery(sort=s, desc=d) for s in SORTS for d in (True, False) if in_store(LotQuery(sort=s))]
    queries += [LotQuery(line="L2", sort="closure", desc=False), LotQuery(state="partial"), LotQuery(sort="closure")]
    queries += [LotQuery(start_from=every["start"][4][:19], sort="feed", page=2)]
    for q in queries:
        assert in_store(q), q
        texts, total = store.batch_page(batch_query(q), sort=SORTS[q.sort], desc=q.desc, **window(q, PAGE))
        want, matched = select(every, q, PAGE)
        assert (total, decode_batches(texts).to_dicts()) == (matched, want.to_dicts()), q
    assert not in_store(LotQuery(supplier="x")) and not in_store(LotQuery(flagged=True))
    assert not in_store(LotQuery(sort="chemistry"))  # text a PostgreSQL collation may order otherwise
    listing = Listing(store)  # nothing in memory: the page comes from the store, the choices too
    rows, total, choices = listing.page(LotQuery())
    assert (total, rows["batch_id"].to_list()) == (every.height, select(every, LotQuery())[0]["batch_id"].to_list())
    assert choices["chemistry"] == sorted(set(every["chemistry"])) and choices["line"] == ["L1", "L2"]
    listing.settle()  # the background read it started fills the memory; the page is the same from there
    assert listing.page(LotQuery())[0].equals(rows)
    assert listing.choices(None)["supplier"] == sorted(s for s in set(every["supplier"]) if s)
    store.close()
