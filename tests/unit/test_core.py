"""The shared core: typed config loading and atomic writes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from predict import io
from predict.config import ConfigError, from_dict, load_section
from predict.contract.spec import TABLES


@dataclass(frozen=True)
class _Inner:
    months: int = 6


@dataclass(frozen=True)
class _Section:
    seed: int = 1
    start: dt.date = dt.date(2020, 1, 31)
    rate: float = 0.5
    names: tuple[str, ...] = ()
    inner: _Inner = field(default_factory=_Inner)
    end: dt.date | None = None


def test_from_dict_builds_nested_frozen_dataclasses() -> None:
    cfg = from_dict(
        _Section,
        {"seed": 3, "start": "2021-03-31", "rate": 1, "names": ["a"], "inner": {"months": 2}},
    )
    assert cfg == _Section(3, dt.date(2021, 3, 31), 1.0, ("a",), _Inner(2))
    assert isinstance(cfg.rate, float)


def test_unknown_key_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="sede"):
        from_dict(_Section, {"sede": 3})


def test_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"seed.*expected int"):
        from_dict(_Section, {"seed": "three"})


def test_load_section_reads_only_its_section(tmp_path: Path) -> None:
    p = tmp_path / "params.yaml"
    p.write_text("a:\n  seed: 9\nb:\n  whatever: 1\n")
    assert load_section(p, "a", _Section).seed == 9
    with pytest.raises(ConfigError, match="no section 'c'"):
        load_section(p, "c", _Section)


def test_failed_write_leaves_previous_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    io.write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert io.read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_replaces_whole_folder_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "tables"
    with io.atomic_dir(target) as d:
        io.write_parquet(pd.DataFrame({"x": [1]}), d / "a.parquet")
    with pytest.raises(RuntimeError), io.atomic_dir(target) as d:
        io.write_parquet(pd.DataFrame({"x": [2]}), d / "b.parquet")
        raise RuntimeError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["a.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tables"]


def test_contract_keys_and_foreign_keys_name_real_columns() -> None:
    for table in TABLES.values():
        for key in table.key:
            assert key in table.column_names
        for fk in table.foreign_keys:
            assert fk.column in table.column_names
            assert fk.ref_column in TABLES[fk.table].column_names


def test_atomic_outputs_get_normal_permissions(tmp_path: Path) -> None:
    f = io.write_text("x", tmp_path / "a.txt")
    with io.atomic_dir(tmp_path / "d"):
        pass
    mask = os.umask(0)
    os.umask(mask)
    assert f.stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~mask


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_killed_runs_are_removed_on_the_next_write(tmp_path: Path) -> None:
    """A killed run leaves hidden temporary names ``.<name>.<host>.p<pid>-<random>`` beside
    its target; the next atomic write of that target removes those of this host whose process
    is dead, and keeps a live one's, another host's, another target's and look-alike names."""
    dead, live, host = _dead_pid(), os.getpid(), io.HOST
    (tmp_path / f".scores.{host}.p{dead}-ab12cd").mkdir()  # a folder being filled (atomic_dir)
    (tmp_path / f".scores.{host}.p{dead}-ab12cd" / "scores.parquet").write_text("half")
    (tmp_path / f".scores.{host}.p{dead}-oldc0ffee").mkdir()  # an interrupted swap
    (tmp_path / f".scores.{host}.p{live}-zz99").mkdir()  # this process: still writing
    (tmp_path / f".scores.otherhost.p{dead}-ab12cd").mkdir()  # pid not checkable here: kept
    (tmp_path / f".scores.csv.{host}.p{dead}-x1.tmp").write_text("half")  # another target's
    (tmp_path / ".scores.settings").write_text("a user's file")  # looks alike, not ours
    (tmp_path / ".scores.abcd1234.tmp").write_text("a user's file")  # no host, no pid
    (tmp_path / ".scores.old").mkdir()  # a fixed name: not one predict.io makes
    (tmp_path / ".keep").write_text("not ours")
    with io.atomic_dir(tmp_path / "scores") as tmp:
        (tmp / "scores.parquet").write_text("new")
    with io.atomic_dir(tmp_path / "scores") as tmp:  # a swap: its old folder goes too
        (tmp / "scores.parquet").write_text("newer")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [
            ".keep",
            ".scores.abcd1234.tmp",
            ".scores.old",
            ".scores.settings",
            f".scores.csv.{host}.p{dead}-x1.tmp",
            f".scores.otherhost.p{dead}-ab12cd",
            f".scores.{host}.p{live}-zz99",
            "scores",
        ]
    )
    assert (tmp_path / "scores" / "scores.parquet").read_text() == "newer"
    io.write_text("x", tmp_path / "scores.csv")
    assert not (tmp_path / f".scores.csv.{host}.p{dead}-x1.tmp").exists()


def test_csv_escapes_formula_triggers_in_text_only(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "client_id": pd.Series(
                [
                    '=HYPERLINK("http://x")',
                    "+1+1",
                    "-2+3",
                    "@SUM(A1)",
                    "\tTAB",
                    "\rCR",
                    "C1",
                    "-12.5",
                    None,
                ],
                dtype="str",
            ),
            "amount": [-1.5, -2.0, 3.0, -4.0, 5.0, 6.0, 7.0, -8.0, -9.0],
            "reasons": pd.Categorical(["-fell 20%"] * 9),
        }
    )
    path = io.write_csv(frame, tmp_path / "s.csv")
    assert "\n'\rCR," in path.read_bytes().decode()  # a lone CR splits pandas' rows
    back = pd.read_csv(path, dtype="str", keep_default_na=False).drop(index=[5, 6])
    assert back["client_id"].tolist() == [
        "'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tTAB", "C1", "-12.5", "",
    ]  # fmt: skip
    assert back["amount"].tolist() == ["-1.5", "-2.0", "3.0", "-4.0", "5.0", "7.0", "-8.0", "-9.0"]
    assert set(back["reasons"]) == {"'-fell 20%"}
    assert frame["client_id"].iloc[0].startswith("=")  # the frame itself is not changed
