"""The `predict validate`, `predict dictionary` and `predict import-online-retail` commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from predict.cli import app
from predict.contract.dictionary import render_data_dictionary
from tests.support.contract_folder import AS_OF, contract_frames, write_folder

runner = CliRunner()


def _args(tmp_path: Path, raw: Path, *extra: str) -> list[str]:
    params = tmp_path / "params.yaml"
    params.write_text("validate: {}\n")  # the built-in defaults
    return [
        "validate", str(raw), "--as-of", AS_OF.isoformat(), "--params", str(params),
        "--out", str(tmp_path / "v"), "--quarantine", str(tmp_path / "q"),
        "--report", str(tmp_path / "r"), "--quiet", *extra,
    ]  # fmt: skip


def test_validate_command_passes_a_clean_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, _args(tmp_path, write_folder(tmp_path / "raw")))
    assert result.exit_code == 0, result.output
    assert "(strict mode): passed" in result.output
    assert (tmp_path / "v" / "clients.parquet").exists()


def test_validate_command_exits_non_zero_in_strict_and_quarantines_in_lenient(
    tmp_path: Path,
) -> None:
    frames = contract_frames()
    frames["interactions"].loc[0, "csat"] = "9"
    raw = write_folder(tmp_path / "raw", frames)
    strict = runner.invoke(app, _args(tmp_path, raw))
    assert strict.exit_code == 1
    assert "interactions.csat [row 1] max: must be <= 5 (value '9')" in strict.output
    assert not (tmp_path / "v").exists()
    lenient = runner.invoke(app, _args(tmp_path, raw, "--mode", "lenient"))
    assert lenient.exit_code == 0, lenient.output
    assert pd.read_parquet(tmp_path / "q" / "interactions.parquet")["csat"].tolist() == ["9"]


def test_validate_command_refuses_a_bad_mode(tmp_path: Path) -> None:
    result = runner.invoke(app, _args(tmp_path, tmp_path, "--mode", "relaxed"))
    assert result.exit_code == 2
    assert "strict" in result.output


def test_dictionary_command_writes_the_generated_text(tmp_path: Path) -> None:
    out = tmp_path / "dictionary.md"
    result = runner.invoke(app, ["dictionary", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == render_data_dictionary()


def test_import_online_retail_command_writes_contract_tables(tmp_path: Path) -> None:
    src = tmp_path / "retail.csv"
    src.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,6.0,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    )
    args = ["import-online-retail", "--src", str(src), "--out", str(tmp_path / "raw")]
    result = runner.invoke(app, [*args, "--format", "csv", "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["clients.csv", "revenue.csv"]
    bad = runner.invoke(app, ["import-online-retail", "--src", str(tmp_path / "no.csv"),
                              "--out", str(tmp_path / "x")])  # fmt: skip
    assert bad.exit_code == 1 and "error:" in bad.output
