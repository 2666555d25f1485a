"""docs/data_dictionary.md is generated from the contract and cannot drift from it."""

from __future__ import annotations

from pathlib import Path

from predict.contract.dictionary import DICTIONARY_PATH, render_data_dictionary
from predict.contract.schemas import RULES
from predict.contract.spec import TABLES

ROOT = Path(__file__).resolve().parents[2]


def test_committed_dictionary_is_up_to_date() -> None:
    committed = (ROOT / DICTIONARY_PATH).read_text(encoding="utf-8")
    assert committed == render_data_dictionary(), (
        f"{DICTIONARY_PATH} is out of date: run `predict dictionary` and commit the result"
    )


def test_dictionary_names_every_table_column_and_rule() -> None:
    text = render_data_dictionary()
    for table in TABLES.values():
        assert f"## `{table.name}` ({'required' if table.required else 'optional'})" in text
        for col in table.columns:
            assert f"| `{col.name}` | {col.kind} | {'yes' if col.required else 'no'} |" in text
            assert col.description in text
    for rule in RULES:
        assert f"| `{rule}` |" in text


def test_dictionary_states_ranges_and_date_rules() -> None:
    text = render_data_dictionary()
    assert "| `csat` | int | no | 1..5 |" in text
    assert "| `limit_amount` | float | yes | >= 0 |" in text
    assert "| `maturity_date` | date | no | >= origination_date; may be after as-of |" in text
    assert "| `month_end` | date | yes | unique with `facility_id`; last day of a month" in text
