"""Generate the committed Grafana dashboards from code (grafana-foundation-sdk, pinned in pyproject).

    .venv/bin/python grafana/generate.py            # rewrite grafana/dashboards/*.json
    .venv/bin/python grafana/generate.py --check    # exit 1 when the committed JSON differs

Panels are declared as data below (builders.py turns them into JSON); every query filters on the template
variables with =~.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from builders import DashboardSpec, PanelSpec, Query, build  # grafana/builders.py, beside this script

from monitor.core.rules import BALANCE_P_FAIL

OUT = Path(__file__).resolve().parent / "dashboards"
# The same dashboards for importing into an existing Grafana (Dashboards -> New -> Import): the
# datasource is an input, so the import dialog offers a picker instead of needing our datasource uid.
IMPORT = Path(__file__).resolve().parent / "import"
DS_INPUT = {
    "name": "DS_PROMETHEUS",
    "label": "Prometheus",
    "description": "the Prometheus that scrapes the blackmass monitors",
    "type": "datasource",
    "pluginId": "prometheus",
    "pluginName": "Prometheus",
}
LINE = 'line=~"$line"'
BLACK_MASS = f'stream="black_mass",{LINE}'
SITE = 'site=~"$site"'
DASHBOARDS = (
    DashboardSpec(
        uid="blackmass-overview",
        lot_starts=True,
        title="Black mass — plant overview",
        description="Throughput, yield and the state of each line at a glance.",
        panels=(
            PanelSpec(
                "Black-mass yield, last batch",
                (Query(f"blackmass_batch_yield_ratio{{{BLACK_MASS}}}", "{{line}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            PanelSpec(
                "Mass-balance closure, last batch",
                (Query(f"blackmass_batch_closure_ratio{{{LINE}}}", "{{line}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            PanelSpec(
                "Batches completed, last 24 h",
                (Query(f"sum by (line) (increase(blackmass_batches_completed_total{{{LINE}}}[24h]))", "{{line}}"),),
                "short",
                "stat",
                6,
                5,
                decimals=0,
            ),
            PanelSpec(
                "Alerts firing",
                (Query(f'count(ALERTS{{alertstate="firing",{LINE}}}) or vector(0)', "firing"),),
                "short",
                "stat",
                6,
                5,
                thresholds=((1, "red"),),
            ),
            PanelSpec(
                "Feed rate, t/h",
                (Query(f"blackmass_feed_rate_grams_per_second{{{LINE}}} * 0.0036", "{{line}}"),),
                "short",
                decimals=2,
                description="feed belt scale, tonnes per hour",
            ),
            PanelSpec(
                "Rolling 24 h black-mass yield",
                (Query(f"line:blackmass_black_mass_yield:ratio_increase24h{{{LINE}}}", "{{line}}"),),
                "percentunit",
            ),
            PanelSpec(
                "Batch in progress: mass so far",
                (
                    Query(
                        f"last_over_time(blackmass_batch_in_progress_mass_grams{{{LINE}}}[5m]) / 1000",
                        "{{line}} {{stream}}",
                    ),
                ),
                "masskg",
            ),
            PanelSpec(
                "Black mass produced (completed batches)",
                (
                    Query(
                        f"sum by (line) (increase(blackmass_stream_mass_grams_total{{{BLACK_MASS}}}[1h])) / 1e6",
                        "{{line}}",
                    ),
                ),
                "masst",
                description="tonnes of black mass per hour of completed batches",
            ),
        ),
    ),
    DashboardSpec(
        uid="blackmass-yield",
        lot_starts=True,
        title="Black mass — batch yield & recovery",
        description="Per batch: yields against floor and baseline, recoveries, balance tests.",
        chemistry_var=True,
        panels=(
            PanelSpec(
                "Black-mass yield vs floor and baseline",
                (
                    Query(f"blackmass_batch_yield_ratio{{{BLACK_MASS}}}", "yield {{line}}"),
                    Query(f"blackmass_batch_yield_reconciled_ratio{{{LINE}}}", "reconciled {{line}}"),
                    Query(
                        f'blackmass_yield_baseline_ratio{{{LINE},chemistry=~"$chemistry"}}',
                        "baseline {{chemistry}} {{feed_form}}",
                    ),
                    Query(f"blackmass_yield_floor_ratio{{{LINE}}}", "floor {{feed_form}}"),
                ),
                "percentunit",
                width=24,
                height=9,
            ),
            PanelSpec(
                "Last completed lot (click: its page)",
                (
                    Query(
                        f"blackmass_batch_last_info{{{LINE}}} * on (line) group_left (external_url) "
                        f"blackmass_monitor_info{{{LINE}}}"
                    ),
                ),
                kind="lots",
                width=24,
                height=4,
                description="A click opens the lot's page on its monitor ([http] external_url)",
            ),
            PanelSpec(
                "Yield per product stream, last batch",
                (Query(f"blackmass_batch_yield_ratio{{{LINE}}}", "{{stream}}"),),
                "percentunit",
            ),
            PanelSpec(
                "Recovery into black mass, last assayed batch",
                (Query(f"blackmass_batch_recovery_ratio{{{LINE}}}", "{{metal}}"),),
                "percentunit",
                thresholds=((0.85, "transparent"),),
            ),
            PanelSpec(
                "Rolling 24 h recovery",
                (Query(f"line_metal:blackmass_recovery:ratio_increase24h{{{LINE}}}", "{{metal}}"),),
                "percentunit",
            ),
            PanelSpec(
                "Reconciled yield ± 1.96 sd",
                (
                    Query(
                        f"blackmass_batch_yield_reconciled_ratio{{{LINE}}} + "
                        f"1.96 * blackmass_batch_yield_sd_ratio{{{LINE}}}",
                        "upper",
                    ),
                    Query(
                        f"blackmass_batch_yield_reconciled_ratio{{{LINE}}} - "
                        f"1.96 * blackmass_batch_yield_sd_ratio{{{LINE}}}",
                        "lower",
                    ),
                ),
                "percentunit",
            ),
            PanelSpec(
                f"Balance test p-value (below {BALANCE_P_FAIL:g}: inconsistent)",
                (Query(f"blackmass_batch_balance_p_value{{{LINE}}}", "{{line}}"),),
                "short",
                thresholds=((BALANCE_P_FAIL, "green"),),
            ),
            PanelSpec(
                "Unaccounted loss, share of feed",
                (
                    Query(
                        f"blackmass_batch_unaccounted_loss_grams{{{LINE}}}"
                        f' / on (line) blackmass_batch_mass_grams{{stream="feed",{LINE}}}',
                        "{{line}}",
                    ),
                ),
                "percentunit",
                thresholds=((0.05, "red"),),
            ),
            PanelSpec(
                "Metal in and out (final assays), last 24 h",
                (
                    Query(
                        f"sum by (metal, stream) (increase(blackmass_metal_mass_grams_total{{{LINE}}}[24h])) / 1000",
                        "{{metal}} {{stream}}",
                    ),
                ),
                "masskg",
            ),
        ),
    ),
    DashboardSpec(
        uid="blackmass-process",
        lot_starts=True,
        title="Black mass — process & safety",
        description="Shredder atmosphere, dryer, big bags and energy, with the alarm thresholds drawn.",
        panels=(
            PanelSpec(
                "Shredder O2",
                (Query(f"blackmass_shredder_oxygen_ratio{{{LINE}}}", "{{line}}"),),
                "percentunit",
                thresholds=((0.03, "orange"), (0.05, "red")),
                description="warn 3 vol %, trip 5 vol %",
            ),
            PanelSpec(
                "Shredder off-gas flammables (share of LEL)",
                (Query(f"blackmass_shredder_lel_ratio{{{LINE}}}", "{{line}}"),),
                "percentunit",
                thresholds=((0.10, "orange"), (0.20, "red")),
            ),
            PanelSpec(
                "Dryer product temperature",
                (Query(f"blackmass_dryer_product_temperature_celsius{{{LINE}}}", "{{line}}"),),
                "celsius",
                thresholds=((200, "red"),),
            ),
            PanelSpec(
                "Black-mass bag temperature",
                (Query(f"blackmass_black_mass_bag_temperature_celsius{{{LINE}}}", "{{line}}"),),
                "celsius",
                thresholds=((60, "red"),),
            ),
            PanelSpec("Shredder power", (Query(f"blackmass_shredder_power_watts{{{LINE}}}", "{{line}}"),), "watt"),
            PanelSpec(
                "Nitrogen flow",
                (Query(f"blackmass_shredder_nitrogen_flow_cubic_meters_per_hour{{{LINE}}}", "{{line}}"),),
                "short",
                description="Nm³/h",
            ),
            PanelSpec(
                "Dryer pressure (absolute)",
                (Query(f"blackmass_dryer_pressure_pascals{{{LINE}}} / 100", "{{line}}"),),
                "pressurembar",
            ),
            PanelSpec(
                "Line power from the energy meter",
                (Query(f"sum by (line) (deriv(blackmass_energy_joules{{{LINE}}}[5m]))", "{{line}}"),),
                "watt",
            ),
        ),
    ),
    DashboardSpec(
        uid="blackmass-collector",
        title="Black mass — collector health",
        description="Each source's session (OPC-UA, Modbus TCP, MQTT), sample flow and quality, rejected samples.",
        panels=(
            PanelSpec(
                "Sources up",
                (Query(f"blackmass_collector_up{{{LINE}}}", "{{line}} {{source}} ({{feeds}})"),),
                "short",
                "stat",
                6,
                5,
                thresholds=((1, "green"),),
            ),
            PanelSpec("Scrape up", (Query('up{job="blackmass"}', "{{instance}}"),), "short", "stat", 6, 5),
            PanelSpec(
                "Reconnects, last hour",
                (
                    Query(
                        f"sum by (line, source) (increase(blackmass_collector_reconnects_total{{{LINE}}}[1h]))",
                        "{{line}} {{source}}",
                    ),
                ),
                "short",
                "stat",
                6,
                5,
            ),
            PanelSpec(
                "Nodes that could not be subscribed",
                (Query(f"blackmass_collector_failed_nodes{{{LINE}}}", "{{line}} {{source}}"),),
                "short",
                "stat",
                6,
                5,
                thresholds=((1, "red"),),
            ),
            PanelSpec(
                "Samples per second by quality",
                (
                    Query(
                        f"sum by (line, quality) (rate(blackmass_collector_samples_total{{{LINE}}}[$__rate_interval]))",
                        "{{line}} {{quality}}",
                    ),
                ),
                "short",
            ),
            PanelSpec(
                "Last sample age",
                (Query(f"blackmass_collector_last_sample_age_seconds{{{LINE}}}", "{{line}} {{source}}"),),
                "s",
                thresholds=((120, "red"),),
            ),
            PanelSpec(
                "Samples kept out of mass sums, per second",
                (
                    Query(
                        f"sum by (line, reason) (rate(blackmass_samples_rejected_total{{{LINE}}}[$__rate_interval]))",
                        "{{line}} {{reason}}",
                    ),
                ),
                "short",
            ),
            PanelSpec(
                "Plant source time vs wall time",
                (Query(f"blackmass_source_time_seconds{{{LINE}}} - time()", "{{line}}"),),
                "s",
                description="positive in an accelerated demo; near zero (or small negative) on a real plant",
            ),
        ),
    ),
    DashboardSpec(
        uid="blackmass-plant",
        title="Black mass — plant and fleet, lines summed",
        description="For the plant (or company) Prometheus that federates the line ones: every line's grams "
        "summed before dividing, so each line weighs what it processed.",
        site_var=True,
        tags=("blackmass", "plant"),
        panels=(
            PanelSpec(
                "Black-mass yield, 24 h, all lines",
                (Query(f"site:blackmass_black_mass_yield:ratio_increase24h{{{SITE}}}", "{{site}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            PanelSpec(
                "Black-mass yield, 7 d, all lines",
                (Query(f"site:blackmass_black_mass_yield:ratio_increase7d{{{SITE}}}", "{{site}}"),),
                "percentunit",
                "stat",
                6,
                5,
                decimals=1,
            ),
            PanelSpec(
                "Feed, t/h (24 h mean), all lines",
                (Query(f"site:blackmass_feed:grams_per_hour_24h{{{SITE}}} / 1e6", "{{site}}"),),
                "short",
                "stat",
                6,
                5,
                decimals=2,
            ),
            PanelSpec(
                "Lines reporting",
                (Query(f"site:blackmass_lines_reporting:count{{{SITE}}}", "{{site}}"),),
                "short",
                "stat",
                6,
                5,
                decimals=0,
            ),
            PanelSpec(
                "Metal recovery to black mass, 24 h, all lines",
                (Query(f"site_metal:blackmass_recovery:ratio_increase24h{{{SITE}}}", "{{site}} {{metal}}"),),
                "percentunit",
            ),
            PanelSpec(
                "Black-mass yield per line, 24 h",
                (Query(f"line:blackmass_black_mass_yield:ratio_increase24h{{{SITE},{LINE}}}", "{{site}} {{line}}"),),
                "percentunit",
            ),
            PanelSpec(
                "Black mass per line, t over 24 h",
                (
                    Query(
                        "sum by (site, line) "
                        f"(increase(blackmass_stream_mass_grams_total{{{SITE},{BLACK_MASS}}}[24h])) / 1e6",
                        "{{site}} {{line}}",
                    ),
                ),
                "masst",
            ),
            PanelSpec(
                "Plant output by stream, t over 24 h",
                (Query(f"site_stream:blackmass_mass:grams_increase24h{{{SITE}}} / 1e6", "{{site}} {{stream}}"),),
                "masst",
            ),
        ),
    ),
)


def for_import(dashboard: dict[str, object]) -> dict[str, object]:
    """The dashboard with its datasource as an `__inputs` entry (${DS_PROMETHEUS}), as Grafana exports them."""
    text = json.dumps(dashboard).replace('"uid": "blackmass-prometheus"', '"uid": "${DS_PROMETHEUS}"')
    return {"__inputs": [DS_INPUT], **json.loads(text)}


def main(argv: list[str]) -> int:
    stale = []
    for d in DASHBOARDS:
        built = build(d)
        for folder, data in ((OUT, built), (IMPORT, for_import(built))):
            folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(data, indent=2, sort_keys=True) + "\n"
            path = folder / f"{d.uid}.json"
            if "--check" in argv:
                if not path.exists() or path.read_text() != text:
                    stale.append(f"{folder.name}/{path.name}")
            else:
                path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run: python grafana/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
