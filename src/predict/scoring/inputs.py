"""The contract tables a scoring run reads: as they are when already validated, else
validated now (bad rows quarantined beside the scores, the validation report written)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from predict.scoring.result import ScoringReport

log = logging.getLogger(__name__)


def load_input(
    input_dir: str | os.PathLike[str],
    validated: bool,
    mode: str,
    out_dir: str | os.PathLike[str],
    report: ScoringReport,
    failed_dir: str | os.PathLike[str] | None = None,
    extract: bool = False,
) -> dict[str, pd.DataFrame]:
    """The contract tables of ``input_dir``: as they are if already validated, else validated
    now (``mode``; lenient by default for scoring: bad rows are quarantined under
    ``out_dir/quarantine/`` with the report in ``out_dir/validation/``). When validation
    fails, its report goes to ``failed_dir/validation/`` (default ``out_dir``). ``extract``
    (some clients' rows of a book): an optional table's file with no row is a table of no
    rows, not an absent one (:mod:`predict.scoring.extract`)."""
    from predict.contract.validation import (
        ValidationConfig,
        ValidationFailed,
        failure_message,
        load_validated,
        summary_text,
        validate_folder,
        write_quarantine,
        write_report,
    )

    empty_tables = "no_rows" if extract else "absent"
    if validated:
        return load_validated(input_dir, empty_tables)
    result = validate_folder(input_dir, ValidationConfig(mode=mode), empty_tables)
    if not result.ok:
        failed = write_report(result, Path(failed_dir or out_dir) / "validation")
        raise ValidationFailed(failure_message(result, failed))
    report_path = write_report(result, Path(out_dir) / "validation")
    log.info("%s", summary_text(result))
    report.quarantined = {
        n: c.rows_quarantined for n, c in result.counts.items() if c.rows_quarantined
    }
    if report.quarantined:
        write_quarantine(result, Path(out_dir) / "quarantine")
        log.warning(
            "quarantined rows (not scored from): %s; see %s", report.quarantined, report_path
        )
    return dict(result.tables)
