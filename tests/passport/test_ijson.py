"""verify reads I-JSON only: a duplicate key, a lone surrogate or a number beyond a double is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import InputError
from monitor.passport.ijson import load_ijson
from monitor.passport.signing import keygen, load_private_key, sign


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"feed_kg": 9999.0, "feed_kg": 1000.0}', "appears twice"),
        ('{"a": {"b": 1, "b": 1}}', "appears twice"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"\\udc00": 1}', "lone surrogate"),
        ('{"a": 9007199254740993}', "beyond an IEEE double"),
        ('{"a": 1e400}', "overflows"),
        ('{"a": NaN}', "not JSON"),
        ('{"a": -Infinity}', "not JSON"),
    ],
)
def test_not_ijson_is_refused(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        load_ijson(text, "p.json")


def test_ijson_reads_what_json_reads() -> None:
    text = '{"a": [1, 2.5, -0.0, "\\u00e9\\ud83d\\ude00", null, true], "b": {"c": 9007199254740992}}'
    assert load_ijson(text, "p.json") == json.loads(text)


def test_verify_refuses_a_duplicate_whose_first_copy_is_forged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub, _ = keygen(tmp_path / "k")
    doc = sign({"passport_type": "lot", "batch_id": "L1-1", "feed_kg": 1000.0}, load_private_key(key, "test"))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc))
    assert main(["passport", "verify", str(good), "--key", str(pub)]) == 0
    text = good.read_text()
    i = text.index('"feed_kg"')
    dup = tmp_path / "dup.json"
    dup.write_text(text[:i] + '"feed_kg": 9999.0, ' + text[i:])
    assert main(["passport", "verify", str(dup), "--key", str(pub)]) == 1
    assert "'feed_kg' appears twice" in capsys.readouterr().err
