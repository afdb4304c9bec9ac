"""The data-exchange commands: shipment create --customer, passport pact/export, pact client add, [pact] checks."""

import json
import shutil
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import ConfigError
from monitor.serve.pact_auth import check_secret, hash_secret, load_clients_file
from monitor.store.batches import BatchStore
from tests.passport.test_lot_shipment import LOT1, LOT2

ROOT = Path(__file__).resolve().parents[2]
SERVE_TOML = """
[http]
tls_certificate = "tls.crt"
tls_key = "tls.key"

[pact]
company_name = "Demo Black Mass Co."
company_ids = ["urn:pact:blackmass.example:company-id:demo"]
domain = "blackmass.example"
geography_country = "US"
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    s = BatchStore(tmp_path / "blackmass.db")
    s.save(LOT1)
    s.save(LOT2)
    s.close()
    (tmp_path / "serve.toml").write_text(SERVE_TOML)
    return tmp_path


def test_footprints_and_exports_from_the_command_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, cfg = str(data_dir), str(data_dir / "serve.toml")
    assert main(["shipment", "create", "--data-dir", d, "--id", "SHIP-C", "--customer", "ACME", "--bag", "BB-1"]) == 0
    assert "SHIP-C to ACME: 1 bags, 1200.0 kg net" in capsys.readouterr().out
    out = data_dir / "lot.json"
    assert main(["passport", "pact", "lot", "L1-00001", "--data-dir", d, "--config", cfg, "--out", str(out)]) == 0
    first = json.loads(out.read_text())
    assert first["productIds"] == ["urn:pact:blackmass.example:product-id:L1-00001"]
    assert first["pcf"]["geographyCountry"] == "US" and first["companyName"] == "Demo Black Mass Co."
    assert main(["passport", "pact", "lot", "L1-00001", "--data-dir", d, "--config", cfg, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["id"] == first["id"]  # unchanged lot, same footprint
    url = f"sqlite:///{data_dir / 'blackmass.db'}"
    ship = data_dir / "ship.json"
    assert main(["passport", "pact", "shipment", "SHIP-C", "--store", url, "--config", cfg, "--out", str(ship)]) == 0
    assert json.loads(ship.read_text())["pcf"]["pcfExcludingBiogenicUptake"] == "0.1100"  # 132 kg on 1200 kg
    for fmt, key in (("catenax-recycling", "recyclingBatchId"), ("batterypass-circularity", "recycledContent")):
        f = data_dir / f"{fmt}.json"
        args = ["passport", "export", "shipment", "SHIP-C", "--format", fmt, "--data-dir", d, "--config", cfg]
        assert main([*args, "--out", str(f)]) == 0
        assert key in f.read_text()
    cx = data_dir / "cx.json"
    args = ["passport", "export", "lot", "L1-00001", "--format", "catenax-recycling", "--data-dir", d, "--config", cfg]
    assert main([*args, "--sender-bpns", "BPNS000000000001", "--out", str(cx)]) == 0
    batch = json.loads(cx.read_text())["urn:samm:io.catenax.material_accounting:1.0.0#RecyclingBatch"][0]
    assert batch["sender"]["bpnsProperty"] == "BPNS000000000001"
    assert batch["receiver"]["bpnsProperty"] == "BPNSUNCONFIGURED"  # says it was not given
    assert main([*args, "--receiver-bpns", "BPNS-1", "--out", str(cx)]) == 2
    assert "--receiver-bpns" in capsys.readouterr().err
    assert main(["passport", "pact", "shipment", "NOPE", "--data-dir", d, "--config", cfg, "--out", str(ship)]) == 2
    assert "shipment 'NOPE'" in capsys.readouterr().err


def test_a_client_secret_is_printed_once_and_stored_only_hashed(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pact", "client", "add", "acme", "--customer", "ACME", "--data-dir", str(data_dir)]) == 0
    lines = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    cid, secret = lines["client_id"], lines["client_secret"]
    s = BatchStore(data_dir / "blackmass.db")
    client = s.pact_client(cid)
    s.close()
    assert client is not None and client.customer == "ACME" and client.secret_hash.startswith("scrypt$")
    assert check_secret(secret, client.secret_hash) and not check_secret(secret + "x", client.secret_hash)
    raw = b"".join(p.read_bytes() for p in data_dir.glob("blackmass.db*"))
    assert secret.encode() not in raw
    assert main(["pact", "client", "add", "acme", "--customer", "ACME", "--data-dir", str(data_dir)]) == 2
    assert "exists already" in capsys.readouterr().err


def test_clients_from_a_file_carry_hashed_secrets(tmp_path: Path) -> None:
    secret = "s3cret-from-the-vault"
    f = tmp_path / "pact-clients.toml"
    h = hash_secret(secret)
    f.write_text(f'[[client]]\nclient_id = "c-1"\nname = "acme"\ncustomer = "ACME"\nsecret_hash = "{h}"\n')
    [c] = load_clients_file(f)
    assert (c.client_id, c.customer) == ("c-1", "ACME") and check_secret(secret, c.secret_hash)
    f.write_text('[[client]]\nclient_id = "c-2"\n')
    with pytest.raises(ConfigError, match=r"client\[0\]"):
        load_clients_file(f)


def test_check_config_knows_the_pact_keys_and_refuses_a_misspelt_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant = tmp_path / "plant.toml"
    shutil.copy(ROOT / "config/plant.toml", plant)
    with plant.open("a") as f:
        f.write('\n[pact]\ncompany_name = "Demo"\ndomain = "blackmass.example"\ngeography_country = "DE"\n')
    assert main(["check-config", str(plant)]) == 0
    plant.write_text(plant.read_text().replace("geography_country", "geography"))
    assert main(["check-config", str(plant)]) == 2
    assert "pact.geography" in capsys.readouterr().err
    serve = tmp_path / "serve.toml"
    serve.write_text('[pact]\ndomain = "Not A Domain"\n')
    assert (
        main(["passport", "pact", "lot", "X", "--data-dir", str(tmp_path), "--config", str(serve), "--out", "-"]) == 2
    )
    assert "pact.domain" in capsys.readouterr().err
