import csv
from pathlib import Path

import pytest

from monitor.accounting.seeds import load_feed_grades
from monitor.errors import ConfigError
from monitor.simulator.composition import feed_composition_rows, load_seeds

ROOT = Path(__file__).resolve().parents[1]


def test_committed_table_is_what_the_model_gives() -> None:
    committed = list(csv.DictReader((ROOT / "seeds/feed_compositions.csv").open()))
    assert committed == feed_composition_rows(load_seeds(ROOT / "seeds")), (
        "regenerate with: python -m monitor.simulator.composition seeds"
    )


def test_declared_grades_match_domain_reference() -> None:
    g = load_feed_grades(ROOT / "seeds").declared("NMC811", "cells")
    assert g is not None
    # shared/reference/domain.md: NMC811 pouch cell Ni 19.8, Co 2.5, Mn 2.3, Li 3.0 wt %
    assert (g["ni"], g["co"], g["mn"], g["li"]) == pytest.approx((0.198, 0.025, 0.023, 0.030), abs=0.0015)
    assert load_feed_grades(ROOT / "seeds").declared("LFP", "packs")["ni"] == 0.0  # type: ignore[index]


def test_bad_seed_table(tmp_path: Path) -> None:
    text = (ROOT / "seeds/feed_compositions.csv").read_text().splitlines()
    head, first = text[0], text[1].split(",")
    first[3] = "250"
    (tmp_path / "feed_compositions.csv").write_text("\n".join([head, ",".join(first)]) + "\n")
    with pytest.raises(ConfigError, match=r"feed_compositions\.csv:2: field 'ni'"):
        load_feed_grades(tmp_path)
