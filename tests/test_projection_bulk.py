"""The bulk report projection (store/projection.py) writes, for any results, byte for byte the text
the per-lot projection wrote before session 8 (csv.writer over dict rows; kept below as the oracle),
and the stored text decodes to the same frames. Results are random: NaN, inf, None where a float
belongs, ints and bools among floats, tiny floats (1e-05: repr and polars differ), empty and odd
text (commas, quotes, CR, LF), zero, one or many streams and metals."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.core.carbon import CarbonAccount, OtherInput
from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.store import projection as store_projection
from monitor.store import sql
from monitor.store.lotvalues import COLUMNS, ELEMENT_PRODUCTS, METALS, PRODUCTS, RECOVERY_COLUMNS
from monitor.store.projection import Projection, projection, projections
from monitor.store.query import iso
from monitor.store.rows import batch_row, decode, recovery_rows, stream_rows

NAN = math.nan

# --- the oracle: store/rows.py's projection as it was at 61b49fc (per lot, csv.writer) ----------------


def _old_first(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def _old_carbon(r: BatchResult) -> dict[str, object]:
    c = r.carbon
    if c is None:
        keys = ("co2e_kg", "co2e_kg_per_t_black_mass", "grid_kg_co2e_per_kwh", "nitrogen_kg_co2e_per_nm3")
        return {**dict.fromkeys(keys, NAN), "ghg_factor_sources": ""}
    sources = [f"grid {c.grid_year}: {c.grid_source}"] + [f"nitrogen: {c.nitrogen_source}"] * bool(c.nitrogen_source)
    return {
        "co2e_kg": c.co2e_kg,
        "co2e_kg_per_t_black_mass": c.co2e_kg_per_t_black_mass,
        "grid_kg_co2e_per_kwh": c.grid_kg_co2e_per_kwh,
        "nitrogen_kg_co2e_per_nm3": c.nitrogen_kg_co2e_per_nm3,
        "ghg_factor_sources": " | ".join(sources + [f"{o.name}: {o.source}" for o in c.other]),
    }


def old_batch_row(r: BatchResult) -> dict[str, object]:
    b = r.balance
    mass = _old_first((s.stream, s.mass_kg) for s in r.streams)
    bm_t = mass.get("black_mass", NAN) / 1000.0
    row: dict[str, object] = {
        **{"batch_id": r.batch_id, "line": r.line, "state": r.state.value, "version": r.version},
        **{"chemistry": r.chemistry, "feed_form": r.feed_form, "supplier": r.supplier},
        **{"start": iso(r.start), "end": iso(r.end), "feed_kg": mass.get("feed", NAN)},
        **{f"{s}_kg": mass.get(s, NAN) for s in PRODUCTS},
        "black_mass_yield": r.black_mass_yield,
        "closure": r.closure,
        "black_mass_yield_reconciled": b.yield_reconciled if b else NAN,
        "black_mass_yield_sd": b.yield_sd if b else NAN,
        "balance_gamma": b.gamma if b else NAN,
        "balance_dof": b.dof if b else 0,
        "balance_p_value": b.p_value if b else NAN,
        "suspect": b.suspect if b else "",
        "assay_status": r.assay_status,
        "feed_grade_source": r.metals[0].feed_grade_source if r.metals else "",
        "energy_kwh": r.energy_kwh,
        "energy_kwh_per_t_black_mass": r.energy_kwh / bm_t if bm_t > 0 else NAN,
        "nitrogen_nm3": r.nitrogen_nm3,
        **_old_carbon(r),
        "origin": ";".join(f"{cls}={share:g}" for cls, share in r.origin),
        "rejected_samples": r.rejected_samples,
        "feed_unattributed_before_kg": sum(sm.unattributed_kg for sm in r.streams if sm.stream == "feed"),
        "flags": ";".join(r.flags),
    }
    metal = _old_first((m.element, m) for m in r.metals)
    for el in METALS:
        m = metal.get(el)
        row[f"recovery_{el}"] = m.recovery if m else NAN
        row[f"recovery_{el}_reconciled"] = m.recovery_reconciled if m else NAN
        row[f"recovery_{el}_sd"] = m.recovery_sd if m else NAN
        row[f"feed_{el}_kg"] = m.feed_kg if m else NAN
        row[f"black_mass_{el}_kg"] = m.black_mass_kg if m else NAN
    for el, stream in ELEMENT_PRODUCTS:
        m = metal.get(el)
        row[f"{stream}_{el}_kg"] = m.stream_kg.get(stream, NAN) if m else NAN
    return {name: None if isinstance(x := row[name], float) and x - x != 0.0 else x for name, _ in COLUMNS}


def _known(x: object) -> object:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def old_stream_rows(r: BatchResult) -> list[dict[str, object]]:
    rec = {s.stream: s for s in r.balance.streams} if r.balance else {}
    rows = []
    for sm in r.streams:
        b = rec.get(sm.stream)
        rows.append(
            {
                **{"batch_id": r.batch_id, "stream": sm.stream, "source": sm.source},
                "measured_kg": _known(sm.mass_kg) if sm.source != "balance" else None,
                "reconciled_kg": _known(b.reconciled_kg) if b else None,
                "sd_kg": _known(b.sd_kg) if b else None,
                "z": _known(b.z) if b else None,
                **{"samples": sm.samples, "unattributed_before_kg": sm.unattributed_kg, "flags": ";".join(sm.flags)},
            }
        )
    return rows


def old_recovery_values(r: BatchResult) -> list[tuple[object, ...]]:
    rows = []
    for m in r.metals:
        vals = (
            *(r.batch_id, r.chemistry, r.feed_form, m.element, m.status, m.feed_grade, m.feed_grade_source),
            *(m.calc_head_grade, m.feed_kg, m.black_mass_grade, m.black_mass_kg, m.recovery, m.recovery_reconciled),
            *(m.recovery_sd, m.two_product, ";".join(f"{s}={v:.4f}" for s, v in sorted(m.distribution.items()))),
        )
        rows.append(tuple(None if isinstance(x, float) and x - x != 0.0 else x for x in vals))
    return rows


def _csv(rows: Any) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def old_projection(r: BatchResult) -> tuple[str, str, str]:
    return (
        _csv([old_batch_row(r).values()]),
        _csv(row.values() for row in old_stream_rows(r)),
        _csv(old_recovery_values(r)),
    )


# --- random results ----------------------------------------------------------------------------------

ODD_TEXT = st.sampled_from(["", " ", "a,b", 'say "hi"', '"', "line\nbreak", "cr\ronly", "crlf\r\n", "é∑", "NaN", "-"])
TEXT = st.one_of(ODD_TEXT, st.text(max_size=8))
SPECIAL = st.sampled_from([NAN, math.inf, -math.inf, 0.0, -0.0, 1e-05, -2.5e-07, 9.99e-05, 1e-4, 1e16, 1e22, 5e-324])
FLOAT = st.one_of(SPECIAL, st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e4, 1e4))
NUMBER: Any = st.one_of(FLOAT, FLOAT, FLOAT, st.integers(-3, 3), st.booleans(), st.integers(2**63, 2**64))
ODD_FLOAT: Any = st.one_of(NUMBER, st.none())  # where the projection does no arithmetic with it
STREAM = st.sampled_from(["feed", *PRODUCTS, "unknown"])
ELEMENT = st.sampled_from([*METALS, "xx"])


def _stream_mass() -> Any:
    return st.builds(
        StreamMass,
        stream=STREAM,
        mass_kg=NUMBER,
        source=st.sampled_from(["totalizer", "weighing", "balance", "x,y"]),
        window_start=st.just(0.0),
        window_end=st.just(1.0),
        samples=st.one_of(st.integers(0, 200), st.integers(2**63, 2**64), st.just(1.5), st.just(True)),
        flags=st.lists(TEXT, max_size=2).map(tuple),
        unattributed_kg=NUMBER,
    )


def _element() -> Any:
    return st.builds(
        ElementAccount,
        element=ELEMENT,
        feed_grade=ODD_FLOAT,
        feed_grade_source=st.one_of(st.sampled_from(["assay", "declared", "none"]), TEXT),
        feed_kg=ODD_FLOAT,
        black_mass_grade=ODD_FLOAT,
        black_mass_kg=ODD_FLOAT,
        recovery=ODD_FLOAT,
        status=TEXT,
        stream_kg=st.dictionaries(STREAM, ODD_FLOAT, max_size=3),
        distribution=st.dictionaries(STREAM, st.floats(0, 1), max_size=3),
        calc_head_grade=ODD_FLOAT,
        two_product=ODD_FLOAT,
        recovery_reconciled=ODD_FLOAT,
        recovery_sd=ODD_FLOAT,
    )


def _balance() -> Any:
    fit = st.builds(
        StreamBalance, stream=STREAM, measured_kg=FLOAT, reconciled_kg=ODD_FLOAT, sd_kg=ODD_FLOAT, z=ODD_FLOAT
    )
    return st.builds(
        Balance,
        gamma=ODD_FLOAT,
        dof=st.one_of(st.integers(0, 9), st.just(2.0)),
        p_value=ODD_FLOAT,
        yield_reconciled=ODD_FLOAT,
        yield_sd=ODD_FLOAT,
        streams=st.lists(fit, max_size=4).map(tuple),
        suspect=TEXT,
    )


def _carbon() -> Any:
    return st.builds(
        CarbonAccount,
        **dict.fromkeys(("energy_kwh", "nitrogen_nm3", "electricity_co2e_kg", "nitrogen_co2e_kg"), st.just(0.0)),
        other_co2e_kg=st.just(0.0),
        co2e_kg=ODD_FLOAT,
        co2e_kg_per_t_black_mass=ODD_FLOAT,
        grid_kg_co2e_per_kwh=ODD_FLOAT,
        grid_source=TEXT,
        grid_year=st.integers(1990, 2100),
        nitrogen_kg_co2e_per_nm3=ODD_FLOAT,
        nitrogen_source=TEXT,
        other=st.lists(st.builds(OtherInput, name=TEXT, kg_co2e_per_t_feed=st.just(1.0), source=TEXT), max_size=2).map(
            tuple
        ),
    )


RESULT = st.builds(
    BatchResult,
    line=TEXT,
    batch_id=TEXT,
    start=st.floats(0, 4e9),
    end=st.floats(0, 4e9),
    state=st.sampled_from(list(BatchState)),
    chemistry=TEXT,
    feed_form=TEXT,
    supplier=TEXT,
    streams=st.lists(_stream_mass(), max_size=5).map(tuple),
    yields=st.dictionaries(st.just("black_mass"), ODD_FLOAT, max_size=1),
    closure=ODD_FLOAT,
    flags=st.lists(TEXT, max_size=3).map(tuple),
    rejected_samples=st.one_of(st.integers(0, 10**6), st.just(True)),
    version=st.integers(1, 5),
    metals=st.lists(_element(), max_size=4).map(tuple),
    balance=st.one_of(st.none(), _balance()),
    assay_status=TEXT,
    energy_kwh=NUMBER,
    nitrogen_nm3=ODD_FLOAT,
    carbon=st.one_of(st.none(), _carbon()),
    origin=st.lists(st.tuples(TEXT, st.floats(0, 1)), max_size=2).map(tuple),
)


def _texts(p: Any) -> tuple[str, str, str]:
    return (p.batch, p.streams, p.recoveries)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(RESULT, max_size=6))
def test_bulk_projection_is_byte_for_byte_the_per_lot_csv(results: list[BatchResult]) -> None:
    want = [old_projection(r) for r in results]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_projection, "BULK_FROM", 1)  # every call through polars, however few its lots
        assert [_texts(p) for p in projections(results)] == want
    assert [_texts(p) for p in projections(results)] == want  # a few lots: csv.writer
    assert [_texts(projection(r)) for r in results] == want


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(RESULT, max_size=4))
def test_the_row_dicts_are_the_per_lot_rows(results: list[BatchResult]) -> None:
    for r in results:
        assert repr(batch_row(r)) == repr(old_batch_row(r))  # repr: NaN kept as it is compares too
        assert repr(stream_rows(r)) == repr(old_stream_rows(r))
        names = [n for n, _ in RECOVERY_COLUMNS]
        assert repr(recovery_rows(r)) == repr([dict(zip(names, v, strict=True)) for v in old_recovery_values(r)])


def test_replayed_lots_project_as_before_and_decode_to_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Realistic lots (tests/replay_golden's history through the replay), through polars however few."""
    monkeypatch.setattr(store_projection, "BULK_FROM", 1)
    got: list[BatchResult] = []
    keep = sql.Store.save_many

    def spy(self: sql.Store, results: list[BatchResult], *a: Any, **k: Any) -> list[BatchResult | None]:
        got.extend(results)
        return keep(self, results, *a, **k)

    history = Path(__file__).resolve().parent / "replay_golden" / "history.parquet"
    try:
        sql.Store.save_many = spy  # type: ignore[method-assign]
        assert main(["replay", str(history), "--data-dir", str(tmp_path)]) == 0
    finally:
        sql.Store.save_many = keep  # type: ignore[method-assign]
    assert len(got) == 28
    bulk = projections(got)
    assert [_texts(p) for p in bulk] == [old_projection(r) for r in got]
    new, old = decode(bulk), decode([Projection(*old_projection(r)) for r in got])
    for a, b in zip(new, old, strict=True):
        assert a.height > 0
        assert a.equals(b, null_equal=True)
