"""Generate the committed Grafana dashboards from code (grafana-foundation-sdk, pinned in pyproject).

    .venv/bin/python grafana/generate.py            # rewrite grafana/dashboards/*.json
    .venv/bin/python grafana/generate.py --check    # exit 1 when the committed JSON differs

Panels are declared as data below; every query filters on the template variables with =~.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

from monitor.core.rules import BALANCE_P_FAIL

DATASOURCE = DataSourceRef(type_val="prometheus", uid="blackmass-prometheus")
OUT = Path(__file__).resolve().parent / "dashboards"
L = 'line=~"$line"'


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class P:
    title: str
    queries: tuple[Q, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    height: int = 8
    thresholds: tuple[tuple[float, str], ...] = ()  # (value, color) above the green base
    description: str = ""
    decimals: int | None = None


@dataclass(frozen=True)
class D:
    uid: str
    title: str
    description: str
    panels: tuple[P, ...]
    chemistry_var: bool = False
    site_var: bool = False  # plant/fleet dashboards: pick sites (federated series carry `site`)
    tags: tuple[str, ...] = field(default=("blackmass",))


def _thresholds(steps: tuple[tuple[float, str], ...]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green"), *(Threshold(value=v, color=c) for v, c in steps)])
    )


def _panel(p: P) -> stat.Panel | timeseries.Panel:
    targets = [
        prometheus.Dataquery()
        .expr(q.expr)
        .legend_format(q.legend or "__auto")
        .ref_id(chr(ord("A") + i))
        .datasource(DATASOURCE)
        for i, q in enumerate(p.queries)
    ]
    if p.kind == "stat":
        b = stat.Panel().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    else:
        b = timeseries.Panel().line_width(2).fill_opacity(10).span_nulls(True)
        if p.thresholds:
            b = b.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    b = b.title(p.title).datasource(DATASOURCE).unit(p.unit).span(p.width).height(p.height).targets(targets)
    if p.description:
        b = b.description(p.description)
    if p.decimals is not None:
        b = b.decimals(p.decimals)
    if p.thresholds:
        b = b.thresholds(_thresholds(p.thresholds))
    return b


def _variables(d: D) -> list[db.QueryVariable]:
    sites = [
        db.QueryVariable("site")
        .label("Site")
        .datasource(DATASOURCE)
        .query("label_values(blackmass_stream_mass_grams_total, site)")
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    ]
    out = sites if d.site_var else []
    out += [
        db.QueryVariable("line")
        .label("Line")
        .datasource(DATASOURCE)
        .query("label_values(blackmass_batches_completed_total, line)")
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    ]
    if d.chemistry_var:
        out.append(
            db.QueryVariable("chemistry")
            .label("Chemistry")
            .datasource(DATASOURCE)
            .query("label_values(blackmass_yield_baseline_ratio, chemistry)")
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    return out


def build(d: D) -> dict[str, object]:
    b = (
        db.Dashboard(d.title)
        .uid(d.uid)
        .description(d.description)
        .tags(list(d.tags))
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
    )
    for v in _variables(d):
        b = b.with_variable(v)
    for p in d.panels:
        b = b.with_panel(_panel(p))
    data: dict[str, object] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(b.build()))
    return data


# ---------------------------------------------------------------------------------------------
BM = f'stream="black_mass",{L}'
S = 'site=~"$site"'
DASHBOARDS = (
    D(
        uid="blackmass-overview",
        title="Black mass — plant overview",
        description="Throughput, yield and the state of each line at a glance.",
        panels=(
            P(
                "Black-mass yield, last batch",
                (Q(f"blackmass_batch_yield_ratio{{{BM}}}", "{{line}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            P(
                "Mass-balance closure, last batch",
                (Q(f"blackmass_batch_closure_ratio{{{L}}}", "{{line}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            P(
                "Batches completed, last 24 h",
                (Q(f"sum by (line) (increase(blackmass_batches_completed_total{{{L}}}[24h]))", "{{line}}"),),
                "short",
                "stat",
                6,
                5,
                decimals=0,
            ),
            P(
                "Alerts firing",
                (Q(f'count(ALERTS{{alertstate="firing",{L}}}) or vector(0)', "firing"),),
                "short",
                "stat",
                6,
                5,
                thresholds=((1, "red"),),
            ),
            P(
                "Feed rate, t/h",
                (Q(f"blackmass_feed_rate_grams_per_second{{{L}}} * 0.0036", "{{line}}"),),
                "short",
                decimals=2,
                description="feed belt scale, tonnes per hour",
            ),
            P(
                "Rolling 24 h black-mass yield",
                (Q(f"line:blackmass_black_mass_yield:ratio_increase24h{{{L}}}", "{{line}}"),),
                "percentunit",
            ),
            P(
                "Batch in progress: mass so far",
                (
                    Q(
                        f"last_over_time(blackmass_batch_in_progress_mass_grams{{{L}}}[5m]) / 1000",
                        "{{line}} {{stream}}",
                    ),
                ),
                "masskg",
            ),
            P(
                "Black mass produced (completed batches)",
                (Q(f"sum by (line) (increase(blackmass_stream_mass_grams_total{{{BM}}}[1h])) / 1e6", "{{line}}"),),
                "masst",
                description="tonnes of black mass per hour of completed batches",
            ),
        ),
    ),
    D(
        uid="blackmass-yield",
        title="Black mass — batch yield & recovery",
        description="Per batch: yields against floor and baseline, recoveries, balance tests.",
        chemistry_var=True,
        panels=(
            P(
                "Black-mass yield vs floor and baseline",
                (
                    Q(f"blackmass_batch_yield_ratio{{{BM}}}", "yield {{line}}"),
                    Q(f"blackmass_batch_yield_reconciled_ratio{{{L}}}", "reconciled {{line}}"),
                    Q(
                        f'blackmass_yield_baseline_ratio{{{L},chemistry=~"$chemistry"}}',
                        "baseline {{chemistry}} {{feed_form}}",
                    ),
                    Q(f"blackmass_yield_floor_ratio{{{L}}}", "floor {{feed_form}}"),
                ),
                "percentunit",
                width=24,
                height=9,
            ),
            P(
                "Yield per product stream, last batch",
                (Q(f"blackmass_batch_yield_ratio{{{L}}}", "{{stream}}"),),
                "percentunit",
            ),
            P(
                "Recovery into black mass, last assayed batch",
                (Q(f"blackmass_batch_recovery_ratio{{{L}}}", "{{metal}}"),),
                "percentunit",
                thresholds=((0.85, "transparent"),),
            ),
            P(
                "Rolling 24 h recovery",
                (Q(f"line_metal:blackmass_recovery:ratio_increase24h{{{L}}}", "{{metal}}"),),
                "percentunit",
            ),
            P(
                "Reconciled yield ± 1.96 sd",
                (
                    Q(
                        f"blackmass_batch_yield_reconciled_ratio{{{L}}} + 1.96 * blackmass_batch_yield_sd_ratio{{{L}}}",
                        "upper",
                    ),
                    Q(
                        f"blackmass_batch_yield_reconciled_ratio{{{L}}} - 1.96 * blackmass_batch_yield_sd_ratio{{{L}}}",
                        "lower",
                    ),
                ),
                "percentunit",
            ),
            P(
                f"Balance test p-value (below {BALANCE_P_FAIL:g}: inconsistent)",
                (Q(f"blackmass_batch_balance_p_value{{{L}}}", "{{line}}"),),
                "short",
                thresholds=((BALANCE_P_FAIL, "green"),),
            ),
            P(
                "Unaccounted loss, share of feed",
                (
                    Q(
                        f"blackmass_batch_unaccounted_loss_grams{{{L}}}"
                        f' / on (line) blackmass_batch_mass_grams{{stream="feed",{L}}}',
                        "{{line}}",
                    ),
                ),
                "percentunit",
                thresholds=((0.05, "red"),),
            ),
            P(
                "Metal in and out (final assays), last 24 h",
                (
                    Q(
                        f"sum by (metal, stream) (increase(blackmass_metal_mass_grams_total{{{L}}}[24h])) / 1000",
                        "{{metal}} {{stream}}",
                    ),
                ),
                "masskg",
            ),
        ),
    ),
    D(
        uid="blackmass-process",
        title="Black mass — process & safety",
        description="Shredder atmosphere, dryer, big bags and energy, with the alarm thresholds drawn.",
        panels=(
            P(
                "Shredder O2",
                (Q(f"blackmass_shredder_oxygen_ratio{{{L}}}", "{{line}}"),),
                "percentunit",
                thresholds=((0.03, "orange"), (0.05, "red")),
                description="warn 3 vol %, trip 5 vol %",
            ),
            P(
                "Shredder off-gas flammables (share of LEL)",
                (Q(f"blackmass_shredder_lel_ratio{{{L}}}", "{{line}}"),),
                "percentunit",
                thresholds=((0.10, "orange"), (0.20, "red")),
            ),
            P(
                "Dryer product temperature",
                (Q(f"blackmass_dryer_product_temperature_celsius{{{L}}}", "{{line}}"),),
                "celsius",
                thresholds=((200, "red"),),
            ),
            P(
                "Black-mass bag temperature",
                (Q(f"blackmass_black_mass_bag_temperature_celsius{{{L}}}", "{{line}}"),),
                "celsius",
                thresholds=((60, "red"),),
            ),
            P("Shredder power", (Q(f"blackmass_shredder_power_watts{{{L}}}", "{{line}}"),), "watt"),
            P(
                "Nitrogen flow",
                (Q(f"blackmass_shredder_nitrogen_flow_cubic_meters_per_hour{{{L}}}", "{{line}}"),),
                "short",
                description="Nm³/h",
            ),
            P(
                "Dryer pressure (absolute)",
                (Q(f"blackmass_dryer_pressure_pascals{{{L}}} / 100", "{{line}}"),),
                "pressurembar",
            ),
            P(
                "Line power from the energy meter",
                (Q(f"sum by (line) (deriv(blackmass_energy_joules{{{L}}}[5m]))", "{{line}}"),),
                "watt",
            ),
        ),
    ),
    D(
        uid="blackmass-collector",
        title="Black mass — collector health",
        description="OPC-UA sessions, sample flow and quality, rejected samples.",
        panels=(
            P(
                "Connected",
                (Q(f"blackmass_collector_connected{{{L}}}", "{{line}} {{source}}"),),
                "short",
                "stat",
                6,
                5,
                thresholds=((1, "green"),),
            ),
            P("Scrape up", (Q('up{job="blackmass"}', "{{instance}}"),), "short", "stat", 6, 5),
            P(
                "Reconnects, last hour",
                (
                    Q(
                        f"sum by (line, source) (increase(blackmass_collector_reconnects_total{{{L}}}[1h]))",
                        "{{line}} {{source}}",
                    ),
                ),
                "short",
                "stat",
                6,
                5,
            ),
            P(
                "Nodes that could not be subscribed",
                (Q(f"blackmass_collector_failed_nodes{{{L}}}", "{{line}} {{source}}"),),
                "short",
                "stat",
                6,
                5,
                thresholds=((1, "red"),),
            ),
            P(
                "Samples per second by quality",
                (
                    Q(
                        f"sum by (line, quality) (rate(blackmass_collector_samples_total{{{L}}}[$__rate_interval]))",
                        "{{line}} {{quality}}",
                    ),
                ),
                "short",
            ),
            P(
                "Last sample age",
                (Q(f"blackmass_collector_last_sample_age_seconds{{{L}}}", "{{line}} {{source}}"),),
                "s",
                thresholds=((120, "red"),),
            ),
            P(
                "Samples kept out of mass sums, per second",
                (
                    Q(
                        f"sum by (line, reason) (rate(blackmass_samples_rejected_total{{{L}}}[$__rate_interval]))",
                        "{{line}} {{reason}}",
                    ),
                ),
                "short",
            ),
            P(
                "Plant source time vs wall time",
                (Q(f"blackmass_source_time_seconds{{{L}}} - time()", "{{line}}"),),
                "s",
                description="positive in an accelerated demo; near zero (or small negative) on a real plant",
            ),
        ),
    ),
    D(
        uid="blackmass-plant",
        title="Black mass — plant and fleet, lines summed",
        description="For the plant (or company) Prometheus that federates the line ones: every line's grams "
        "summed before dividing, so each line weighs what it processed.",
        site_var=True,
        tags=("blackmass", "plant"),
        panels=(
            P(
                "Black-mass yield, 24 h, all lines",
                (Q(f"site:blackmass_black_mass_yield:ratio_increase24h{{{S}}}", "{{site}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            P(
                "Black-mass yield, 7 d, all lines",
                (Q(f"site:blackmass_black_mass_yield:ratio_increase7d{{{S}}}", "{{site}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            P(
                "Feed, t/h (24 h mean), all lines",
                (Q(f"site:blackmass_feed:grams_per_hour_24h{{{S}}} / 1e6", "{{site}}"),),
                "short",
                "stat",
                6,
                5,
                decimals=2,
            ),
            P(
                "Lines reporting",
                (Q(f"site:blackmass_lines_reporting:count{{{S}}}", "{{site}}"),),
                "short",
                "stat",
                6,
                5,
                decimals=0,
            ),
            P(
                "Metal recovery to black mass, 24 h, all lines",
                (Q(f"site_metal:blackmass_recovery:ratio_increase24h{{{S}}}", "{{site}} {{metal}}"),),
                "percentunit",
            ),
            P(
                "Black-mass yield per line, 24 h",
                (Q(f"line:blackmass_black_mass_yield:ratio_increase24h{{{S},{L}}}", "{{site}} {{line}}"),),
                "percentunit",
            ),
            P(
                "Black mass per line, t over 24 h",
                (
                    Q(
                        f"sum by (site, line) (increase(blackmass_stream_mass_grams_total{{{S},{BM}}}[24h])) / 1e6",
                        "{{site}} {{line}}",
                    ),
                ),
                "masst",
            ),
            P(
                "Plant output by stream, t over 24 h",
                (Q(f"site_stream:blackmass_mass:grams_increase24h{{{S}}} / 1e6", "{{site}} {{stream}}"),),
                "masst",
            ),
        ),
    ),
)


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for d in DASHBOARDS:
        text = json.dumps(build(d), indent=2, sort_keys=True) + "\n"
        path = OUT / f"{d.uid}.json"
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run: python grafana/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
