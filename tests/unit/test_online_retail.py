"""The UCI Online Retail adapter: every line accounted for, on a tiny copy and the real file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from predict.contract.online_retail import import_online_retail, to_contract_tables
from predict.contract.validation import ValidationConfig, validate_folder

ROOT = Path(__file__).resolve().parents[2]
REAL_FILE = ROOT / "../shared/data/online_retail/online_retail.csv.gz"
REAL_LINES = 541_909

SAMPLE = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART,6.0,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536366,22633,HAND WARMER,6.0,2010-12-01 08:28:00,1.85,17850.0,France
C536379,D,Discount,-1.0,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536380,22961,JAM MAKING SET,24.0,2010-11-30 09:41:00,0.0,14527.0,Germany
536414,22139,,56.0,2010-12-01 11:52:00,0.0,,United Kingdom
A563185,B,Adjust bad debt,1.0,2011-08-12 14:50:00,11062.06,,United Kingdom
"""


@pytest.fixture
def sample_csv(tmp_path: Path) -> Path:
    path = tmp_path / "online_retail.csv"
    path.write_text(SAMPLE)
    return path


def test_mapping_keeps_every_line_and_derives_clients(sample_csv: Path, tmp_path: Path) -> None:
    written = import_online_retail(sample_csv, tmp_path / "raw", "csv")
    assert sorted(written) == ["clients", "revenue"]
    revenue = pd.read_csv(written["revenue"], dtype="str")
    assert len(revenue) == 6
    assert revenue["client_id"].tolist()[:4] == ["17850", "17850", "14527", "14527"]
    assert revenue["client_id"].iloc[4:].isna().all()  # no CustomerID: kept, client empty
    assert revenue["amount"].astype(float).tolist() == [15.3, 11.1, -27.5, 0.0, 0.0, 11062.06]
    assert revenue["source"].tolist() == ["sale", "sale", "cancellation", "sale", "sale", "sale"]
    assert revenue["date"].iloc[0] == "2010-12-01"
    clients = pd.read_csv(written["clients"], dtype="str")
    # the first purchase decides onboarding and region, whatever the file order
    assert clients[["client_id", "onboarding_date", "region"]].values.tolist() == [
        ["14527", "2010-11-30", "Germany"],
        ["17850", "2010-12-01", "United Kingdom"],
    ]
    assert clients["segment"].isna().all()


def test_lenient_validation_quarantines_lines_without_a_client(
    sample_csv: Path, tmp_path: Path
) -> None:
    import_online_retail(sample_csv, tmp_path / "raw", "csv.gz")
    result = validate_folder(tmp_path / "raw", ValidationConfig("lenient", as_of=None))
    counts = result.counts["revenue"]
    assert (counts.rows_in, counts.rows_valid, counts.rows_quarantined) == (6, 4, 2)
    assert set(result.quarantined["revenue"]["reason"]) == {"client_id: required value missing"}
    assert result.absent == (
        "facilities",
        "facility_balances",
        "interactions",
        "credit_events",
        "facility_terms",
    )


def test_not_an_online_retail_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="Online Retail"):
        import_online_retail(path, tmp_path / "raw")


def test_unreadable_numbers_and_dates_stay_as_empty_values() -> None:
    lines = pd.DataFrame(
        {
            "InvoiceNo": ["1", "2"],
            "Quantity": ["x", "2"],
            "InvoiceDate": ["2011-01-01 10:00:00", "yesterday"],
            "UnitPrice": ["1.0", "1.0"],
            "CustomerID": ["1.0", "2.0"],
            "Country": ["UK", "UK"],
        },
        dtype="str",
    )
    tables = to_contract_tables(lines)
    assert len(tables["revenue"]) == 2
    assert pd.isna(tables["revenue"]["amount"].iloc[0]) and pd.isna(
        tables["revenue"]["date"].iloc[1]
    )
    assert len(tables["clients"]) == 2


@pytest.mark.skipif(not REAL_FILE.exists(), reason=f"real Online Retail file absent: {REAL_FILE}")
def test_real_file_every_line_is_valid_or_quarantined(tmp_path: Path) -> None:
    import_online_retail(REAL_FILE, tmp_path / "raw", "parquet")
    result = validate_folder(tmp_path / "raw", ValidationConfig(mode="lenient"))
    assert result.ok
    revenue = result.counts["revenue"]
    assert revenue.rows_in == REAL_LINES
    assert revenue.rows_valid + revenue.rows_quarantined == REAL_LINES
    assert revenue.rows_quarantined == result.quarantined["revenue"].shape[0] > 0
    assert set(result.quarantined["revenue"]["rule"]) == {"required"}
    assert set(result.quarantined["revenue"]["reason"]) == {"client_id: required value missing"}
    assert result.counts["clients"].rows_quarantined == 0
    assert result.tables["clients"]["client_id"].str.fullmatch(r"\d+").all()  # no ".0"
