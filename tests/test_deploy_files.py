"""compose.yaml and the Dockerfile refer to files that exist and ports that match (no Docker engine
runs here, so the stack itself is not started by the tests)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_mounts_exist_and_ports_match() -> None:
    c = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = c["services"]
    assert set(services) == {"simulator", "monitor", "prometheus", "alertmanager", "grafana"}
    for svc in services.values():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), src
    prom = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["monitor:9464"] and "9464" in " ".join(services["monitor"]["command"])
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    ds = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/blackmass.yml").read_text())
    mount = next(v for v in services["grafana"]["volumes"] if v.startswith("./grafana/dashboards"))
    assert mount.split(":")[1] == prov["providers"][0]["options"]["path"]


def test_dockerfile_copies_what_the_service_needs() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for part in ("COPY monitor", "COPY config", "COPY seeds", 'ENTRYPOINT ["blackmass"]'):
        assert part in text
