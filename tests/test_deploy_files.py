"""compose.yaml and the Dockerfile refer to files that exist and ports that match (no Docker engine
runs here, so the stack itself is not started by the tests)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_mounts_exist_and_ports_match() -> None:
    c = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = c["services"]
    assert set(services) == {"simulator", "monitor", "prometheus", "alertmanager", "alert-webhook", "grafana"}
    for svc in services.values():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), src
    prom = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["monitor:9464"] and "9464" in " ".join(services["monitor"]["command"])
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    # every receiver posts to the sample webhook service, on the port it listens on
    am = yaml.safe_load((ROOT / "config/prometheus/alertmanager.yml").read_text())
    urls = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
    assert len(urls) == len(am["receivers"]) == 2
    assert all(u.startswith("http://alert-webhook:9095/") for u in urls)
    assert services["alert-webhook"]["ports"] == ["127.0.0.1:9095:9095"]
    ds = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/blackmass.yml").read_text())
    mount = next(v for v in services["grafana"]["volumes"] if v.startswith("./grafana/dashboards"))
    assert mount.split(":")[1] == prov["providers"][0]["options"]["path"]


def test_dockerfile_copies_what_the_service_needs() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for part in ("COPY monitor", "COPY config", "COPY seeds", "COPY docs/runbooks.md", 'ENTRYPOINT ["blackmass"]'):
        assert part in text


def test_compose_publishes_on_localhost_only_and_grafana_has_no_default_password() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    published = [p for svc in services.values() for p in svc.get("ports", [])]
    assert len(published) == 5 and all(p.startswith("127.0.0.1:") for p in published), published
    env = services["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")  # unset: compose refuses
    assert env.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer"  # anonymous users only look
