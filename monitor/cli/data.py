"""The CLI's data commands: work on a data directory, no server needed (report, replay, assays, reconcile)."""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError
from monitor.store import STORE_FILE
from monitor.store.url import open_store, store_url

# Start-up: `blackmass --help` builds every parser, so this module imports nothing heavy at the top;
# the store engines, polars, the core and the reports load inside the command that runs.
if TYPE_CHECKING:
    from monitor.accounting.assay_import import ImportSummary
    from monitor.core.results import BatchResult
    from monitor.store.query import BatchQuery
    from monitor.store.sql import Store

ROOT = Path(__file__).resolve().parents[2]  # the project checkout (monitor/cli/data.py)
DEFAULT_PLANT = "config/plant.toml"
DEFAULT_SIM = "config/simulator.toml"
# the report formats (monitor.reports.exports.FORMATS; a test keeps the two equal) named here so that
# building the parser does not load polars
REPORT_FORMATS = ("csv", "parquet", "pdf", "xlsx")
SAVE_EVERY = 500  # replay stores finished lots in transactions of this many


STORE_HELP = (
    f"batch store URL: sqlite:///path (default sqlite:///<data-dir>/{STORE_FILE}) or postgresql://user@host:port/db "
    "(password from BLACKMASS_STORE_PASSWORD or the file in BLACKMASS_STORE_PASSWORD_FILE)"
)


def store_option(p: argparse.ArgumentParser, *, data_dir_required: bool) -> None:
    p.add_argument("--store", metavar="URL", help=STORE_HELP)
    if not data_dir_required:
        p.add_argument("--data-dir", type=Path, help=f"a data directory: its {STORE_FILE} is the store unless --store")


def add_data_commands(sub: Any) -> None:
    """replay, assays import, reconcile, report."""
    rp = sub.add_parser("replay", help="run a historian export (Parquet/CSV) through the core into the store")
    rp.add_argument("file", type=Path)
    store_option(rp, data_dir_required=False)
    rp.add_argument("--line", help="file the lots under this line (default: the export's own, else the config's)")
    rp.add_argument("--config", default=DEFAULT_PLANT)
    rp.add_argument("--seeds", default="seeds", help="reference-data folder (default seeds/)")

    assays = sub.add_parser("assays", help="lab assays (LIMS CSV)")
    asub = assays.add_subparsers(dest="assays_cmd", required=True)
    imp = asub.add_parser("import", help="import assay files (each all rows or none)")
    imp.add_argument("files", type=Path, nargs="+", metavar="FILE", help="LIMS CSV files, or folders of *.csv")
    store_option(imp, data_dir_required=False)
    imp.add_argument(
        "--line",
        help="the line the lots ran on, for files without a 'line' column (required when the store holds several)",
    )
    imp.add_argument("--config", default=DEFAULT_PLANT, help=f"plant config (default {DEFAULT_PLANT})")
    imp.add_argument("--seeds", default="seeds", help="reference-data folder (default seeds/)")

    rec = sub.add_parser(
        "reconcile", help="reconcile one balance node from a CSV (stream,direction,measured_kg,rel_sigma)"
    )
    rec.add_argument("file", type=Path)
    rec.add_argument("--json", action="store_true", help="machine-readable output")

    rep = sub.add_parser("report", help="export batch results")
    store_option(rep, data_dir_required=False)
    rep.add_argument("--format", choices=REPORT_FORMATS, default="csv")
    rep.add_argument("--out", required=True, help="file, or - for standard output")
    rep.add_argument("--line", action="append", help="one line, or several (repeat, or separate by commas)")
    rep.add_argument("--chemistry")
    rep.add_argument("--feed-form", help="only lots of this feed form (cells, modules, packs, ...)")
    rep.add_argument("--batch")
    rep.add_argument("--state", help="only lots in this state: complete, assayed or partial")
    rep.add_argument("--from", dest="start_from", help="batches starting at or after (date or datetime, UTC)")
    rep.add_argument("--to", dest="start_to", help="batches starting before (date or datetime, UTC)")
    rep.add_argument("--include-partial", action="store_true", help="also batches whose start the monitor did not see")
    rep.add_argument(
        "--config",
        default=DEFAULT_PLANT,
        help=f"plant config: its [plant] name heads the PDF (default {DEFAULT_PLANT})",
    )


def resolve_path(p: str) -> Path:
    """A config/seed path as given, else relative to the project checkout."""
    path = Path(p)
    return path if path.exists() or path.is_absolute() else ROOT / path


def batch_query(a: argparse.Namespace) -> BatchQuery:
    """The report's flags as the one BatchQuery (store/query.py); an error names the flag."""
    from monitor.store.query import parse_query  # noqa: PLC0415 - see the import note at the top

    given = {
        "from": a.start_from,
        "to": a.start_to,
        "line": a.line,
        "chemistry": a.chemistry,
        "feed_form": a.feed_form,
        "batch": a.batch,
        "state": a.state,
        "include_partial": a.include_partial,
    }
    return parse_query(given, label=lambda k: "--" + k.replace("_", "-"))


def open_for(a: argparse.Namespace, *, must_exist: bool = True) -> Store:
    """The store of a data command: --store URL, else the SQLite file in --data-dir."""
    return open_store(store_url(a.store, a.data_dir), must_exist=must_exist)


def cmd_report(a: argparse.Namespace) -> int:
    from monitor.reports.exports import load, render  # noqa: PLC0415 - see the note at the top

    q = batch_query(a)
    progress = Progress(enabled=a.out != "-" and sys.stderr.isatty())
    with open_for(a) as store:
        progress.update(0.0, "reading batches")
        report = load(store, q, a.format)
        what = f"{report.batches.height} batches as {a.format}"
        progress.update(0.1, what)
        data = render(
            store,
            report,
            a.format,
            q=q,
            plant=_plant_name(a),
            progress=lambda x, _: progress.update(0.1 + 0.85 * x, what),
        )
    progress.update(0.95, "writing")
    if a.out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_bytes(data)
    progress.done()
    print(f"{report.batches.height} batches -> {a.out} ({len(data):,} bytes)", file=sys.stderr)
    return 0


def _plant_name(a: argparse.Namespace) -> str:
    """[plant] name of the config, for the PDF's pages ("" when the config is absent: the PDF says so)."""
    from monitor.config import load_config  # noqa: PLC0415 - see the import note at the top

    path = resolve_path(a.config)
    return load_config(path).plant_name if a.format == "pdf" and path.exists() else ""


class Progress:
    """A one-line progress bar on a terminal (stderr); silent when output is piped."""

    WIDTH = 30

    def __init__(self, *, enabled: bool) -> None:
        self.enabled, self.t0 = enabled, time.monotonic()

    def update(self, fraction: float, what: str) -> None:
        if self.enabled:
            n = round(max(0.0, min(1.0, fraction)) * self.WIDTH)
            bar = "#" * n + "." * (self.WIDTH - n)
            line = f"\r[{bar}] {fraction:4.0%} {what} ({time.monotonic() - self.t0:.1f} s)\033[K"
            print(line, end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        self.update(1.0, "done")
        if self.enabled:
            print(file=sys.stderr)


@contextmanager
def few_collections() -> Iterator[None]:
    """Python's cyclic collector run seldom (a replay makes millions of short-lived objects and few cycles):
    what is loaded already is frozen out of its scans and the youngest generation holds 10,000 objects, not
    700. 365 days: 627 collections (0.17 CPU-s) -> 34 (0.04 s). The collector's settings are restored."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def cmd_replay(a: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see the import note at the top

    from monitor.runs.history_file import history_line, survey_history  # noqa: PLC0415

    t = time.monotonic()
    # the check pass (the whole file, before the store is even opened: a bad file changes nothing) runs on
    # polars' threads without the GIL while this thread imports the core, reads the config and the seeds
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-check") as pool:
        survey = pool.submit(survey_history, a.file)
        from monitor.accounting.assay_import import Accountant  # noqa: PLC0415
        from monitor.accounting.seeds import load_feed_grades  # noqa: PLC0415
        from monitor.config import load_config  # noqa: PLC0415
        from monitor.core.engine import Engine  # noqa: PLC0415
        from monitor.runs.replay import replay_file  # noqa: PLC0415

        cfg = load_config(resolve_path(a.config))
        grades = load_feed_grades(resolve_path(a.seeds))
        checked = survey.result()  # a bad config is said first, as before; a bad file before the store opens
    line = a.line or history_line(a.file)
    if line and line != cfg.line.line:  # lots are filed under the line they came from
        cfg = replace(cfg, line=replace(cfg.line, line=line))
    engine = Engine(cfg.line, settle_s=cfg.settle_s)
    pending: list[BatchResult] = []
    stored = 0
    with open_for(a, must_exist=False) as store:
        accountant = Accountant(store, cfg.line, grades, ghg=cfg.ghg, origin=cfg.origin)

        def flush() -> None:  # a transaction per 500 batches: fast, and memory stays flat over months
            nonlocal stored
            stored += sum(r is not None for r in accountant.finalise_many(pending))
            pending.clear()

        def keep(result: BatchResult) -> None:
            pending.append(result)
            if len(pending) >= SAVE_EVERY:
                flush()

        with few_collections():
            stats = replay_file(a.file, engine, keep, checked=checked)
            flush()
    took = time.monotonic() - t
    live = engine.live()
    print(
        f"{stats.samples:,} samples in {took:.1f} s ({stats.samples / max(took, 1e-9) / 1e6:.1f} M/s): "
        f"{stats.batches} batches, {stored} new or changed versions stored"
        + (f"; still open: {live.batch_id} (feeding)" if live else "")
        + (f", {', '.join(engine.flushing)} (flushing)" if engine.flushing else "")
    )
    return 0


def assay_files(paths: list[Path]) -> list[Path]:
    """The files named, a folder's *.csv in name order; a path that is neither is an error naming it."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.glob("*.csv") if f.is_file() and not f.name.startswith("."))
            if not found:
                raise MonitorError(f"{p}: a folder with no *.csv assay files")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise MonitorError(f"{p}: no such assay file or folder")
    return out


def cmd_assays_import(a: argparse.Namespace) -> int:
    from monitor.accounting.assay_import import Accountant  # noqa: PLC0415 - see the import note at the top
    from monitor.accounting.seeds import load_feed_grades  # noqa: PLC0415
    from monitor.config import load_config  # noqa: PLC0415

    cfg = load_config(resolve_path(a.config))
    files = assay_files(a.files)
    with open_for(a) as store:
        accountant = Accountant(
            store, cfg.line, load_feed_grades(resolve_path(a.seeds)), ghg=cfg.ghg, origin=cfg.origin
        )
        for path in files:
            _print_import(path, accountant.import_file(path, line=a.line))
    return 0


def _print_import(path: Path, summary: ImportSummary) -> None:
    if summary.duplicate_file:
        print(f"{path}: already imported, nothing changed")
        return
    print(
        f"{path}: {summary.rows} assays imported; {len(summary.updated)} batches recomputed"
        + (f"; waiting for batches {', '.join(summary.pending)}" if summary.pending else "")
    )
    for r in summary.updated:
        print(
            f"  {r.batch_id} v{r.version}: assays {r.assay_status}, "
            + ", ".join(f"{m.element} {m.recovery * 100:.1f} %" for m in r.metals if not math.isnan(m.recovery))
        )


def cmd_reconcile(a: argparse.Namespace) -> int:
    from monitor.accounting.balance_file import reconcile_file  # noqa: PLC0415 - see the import note at the top

    out = reconcile_file(a.file)
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{'stream':<16} {'dir':<4} {'measured kg':>12} {'reconciled kg':>14} {'sd kg':>9} {'z':>6}")
    for s in out["streams"]:
        m = "" if s["measured_kg"] is None else f"{s['measured_kg']:.1f}"
        z = "" if s["z"] is None else f"{s['z']:.2f}"
        print(f"{s['stream']:<16} {s['direction']:<4} {m:>12} {s['reconciled_kg']:>14.1f} {s['sd_kg']:>9.1f} {z:>6}")
    p = "n/a (no redundancy)" if out["p_value"] is None else f"{out['p_value']:.4f}"
    print(f"imbalance {out['imbalance_kg']:.1f} kg; gamma {out['gamma']:.3f}, dof {out['dof']}, p {p}")
    return 0


def write_document(doc: dict[str, Any], out: str) -> None:
    """A JSON document to `out` (- for stdout), written whole: a reader never sees half of it."""
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a passport
