"""Ed25519 signatures: a fresh document verifies; any change is refused and the field is named."""

import base64
import copy
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from monitor.errors import InputError
from monitor.passport.signing import keygen, load_private_key, load_public_key, sign, verify

DOC = {
    "passport_type": "lot",
    "batch_id": "L1-00007",
    "black_mass_kg": 1216.6,
    "elements": {"ni": {"feed_kg": 410.2, "black_mass_kg": 371.9, "recovery": 0.9066}},
    "black_mass_bags": [{"bag_id": "BB-1", "net_kg": 608.3}, {"bag_id": "BB-2", "net_kg": 608.3}],
    "co2e_kg": None,
}


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_a_signed_document_verifies_after_a_json_round_trip(key: Ed25519PrivateKey) -> None:
    signed = sign(DOC, key)
    again = json.loads(json.dumps(signed, indent=4))
    v = verify(again, key.public_key())
    assert v.valid, v.problem
    assert set(signed["signature"]["fields"]) == set(DOC)
    assert len(base64.b64decode(signed["signature"]["value"])) == 64


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.__setitem__("black_mass_kg", 1217.6), "black_mass_kg"),
        (lambda d: d["elements"]["ni"].__setitem__("recovery", 0.95), "elements"),
        (lambda d: d["black_mass_bags"].pop(), "black_mass_bags"),
        (lambda d: d.__setitem__("co2e_kg", 0.0), "co2e_kg"),
        (lambda d: d.__setitem__("extra", 1), "extra"),
        (lambda d: d.pop("batch_id"), "batch_id"),
    ],
)
def test_a_changed_value_fails_and_names_the_field(key: Ed25519PrivateKey, change: object, field: str) -> None:
    doc = copy.deepcopy(sign(DOC, key))
    change(doc)  # type: ignore[operator]
    v = verify(doc, key.public_key())
    assert not v.valid
    assert v.field == field
    assert f"'{field}'" in v.problem


def test_a_changed_value_with_its_digest_forged_still_fails(key: Ed25519PrivateKey) -> None:
    doc = copy.deepcopy(sign(DOC, key))
    doc["black_mass_kg"] = 1300.0
    doc["signature"]["fields"]["black_mass_kg"] = sign({"black_mass_kg": 1300.0}, key)["signature"]["fields"][
        "black_mass_kg"
    ]
    v = verify(doc, key.public_key())
    assert not v.valid and v.field == "signature"


def test_another_key_is_named(key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    v = verify(sign(DOC, key), other.public_key())
    assert not v.valid and "signed by key" in v.problem and v.field == "signature.key_id"


def test_an_unsigned_or_mangled_document_is_refused_not_raised(key: Ed25519PrivateKey) -> None:
    assert not verify(dict(DOC), key.public_key()).valid
    doc = copy.deepcopy(sign(DOC, key))
    doc["signature"]["value"] = "not base64!"
    assert not verify(doc, key.public_key()).valid


def test_keygen_writes_a_private_key_only_we_can_read_and_never_overwrites(tmp_path: Path) -> None:
    key_path, pub_path, kid = keygen(tmp_path / "keys")
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert len(kid) == 16
    private = load_private_key(key_path, "test")
    assert verify(sign(DOC, private), load_public_key(pub_path)).valid
    before = key_path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        keygen(tmp_path / "keys")
    assert key_path.read_bytes() == before


def test_bad_keys_name_the_file_and_never_show_its_content(tmp_path: Path) -> None:
    secret = tmp_path / "not-a-key.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError) as e:
        load_private_key(secret, "BLACKMASS_PASSPORT_KEY")
    assert str(secret) in str(e.value) and "BLACKMASS_PASSPORT_KEY" in str(e.value)
    assert "TOPSECRET" not in str(e.value)
    with pytest.raises(InputError, match="cannot read"):
        load_private_key(tmp_path / "missing.key", "[passport] key")
    _, pub, _ = keygen(tmp_path / "k")
    pub.chmod(0o600)  # else refused for its mode before its content is looked at
    with pytest.raises(InputError, match="not an unencrypted PEM private key"):
        load_private_key(pub, "test")  # a public key where the private one belongs
