"""Builders of the committed Grafana dashboards: panel and dashboard specs as data -> dashboard JSON.

The specs themselves are in generate.py; every query filters on the template variables with =~.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
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
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = DataSourceRef(type_val="prometheus", uid="blackmass-prometheus")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class PanelSpec:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat", or "lots" (a table of lots, each linked to its web page)
    width: int = 12
    height: int = 8
    thresholds: tuple[tuple[float, str], ...] = ()  # (value, color) above the green base
    description: str = ""
    decimals: int | None = None


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    panels: tuple[PanelSpec, ...]
    chemistry_var: bool = False
    site_var: bool = False  # plant/fleet dashboards: pick sites (federated series carry `site`)
    lot_starts: bool = False  # an annotation at each lot's start, its tooltip linking the lot's web page
    tags: tuple[str, ...] = field(default=("blackmass",))


def _thresholds(steps: tuple[tuple[float, str], ...]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green"), *(Threshold(value=v, color=c) for v, c in steps)])
    )


# The monitor's web pages: [http] external_url comes with every monitor's blackmass_monitor_info
LOT_PAGE = "{{external_url}}/lots/{{line}}/{{batch_id}}"
LOT_PAGE_LINK = "${__data.fields.external_url}/lots/${__data.fields.line}/${__data.fields.batch_id}"
# one series per lot being fed, valued at its start (ms): Grafana places the annotation there
LOT_STARTS = (
    'max by (line, batch_id, chemistry, feed_form, external_url) (blackmass_batch_info{line=~"$line"}'
    " * on (line) group_left (external_url) blackmass_monitor_info"
    " * on (line) group_left blackmass_batch_in_progress_start_timestamp_seconds) * 1000"
)


def lot_starts() -> dict[str, object]:
    """The annotation query of lot starts (Prometheus options the SDK does not model, as Grafana saves them)."""
    return {
        "name": "Lot starts",
        "datasource": {"type": DATASOURCE.type_val, "uid": DATASOURCE.uid},
        "enable": True,
        "iconColor": "rgba(31, 96, 196, 0.8)",
        "expr": LOT_STARTS,
        "step": "1m",
        "useValueForTime": True,
        "titleFormat": "Lot {{batch_id}} starts ({{line}})",
        "textFormat": f'{{{{chemistry}}}} {{{{feed_form}}}} — <a href="{LOT_PAGE}">open the lot\'s page</a>',
        "tagKeys": "line,chemistry",
    }


def panel(p: PanelSpec) -> stat.Panel | timeseries.Panel | table.Panel:
    targets = [
        prometheus.Dataquery()
        .expr(q.expr)
        .legend_format(q.legend or "__auto")
        .ref_id(chr(ord("A") + i))
        .datasource(DATASOURCE)
        for i, q in enumerate(p.queries)
    ]
    if p.kind == "lots":
        targets = [t.instant().format(PromQueryFormat.TABLE) for t in targets]
        return (
            table.Panel()
            .title(p.title)
            .description(p.description)
            .datasource(DATASOURCE)
            .span(p.width)
            .height(p.height)
            .targets(targets)
        )
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


def variables(d: DashboardSpec) -> list[db.QueryVariable]:
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


def build(d: DashboardSpec) -> dict[str, object]:
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
    for v in variables(d):
        b = b.with_variable(v)
    for p in d.panels:
        b = b.with_panel(panel(p))
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(b.build()))
    if d.lot_starts:
        data["annotations"] = {"list": [lot_starts()]}
    for p, built in zip(d.panels, data["panels"], strict=True):
        if p.kind == "lots":  # a click on a lot's row opens its page on the monitor that measured it
            built.setdefault("fieldConfig", {}).setdefault("defaults", {})["links"] = [
                {"title": "Open lot ${__data.fields.batch_id}", "url": LOT_PAGE_LINK}
            ]
    return data
