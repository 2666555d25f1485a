"""DVC stage `validate`: contract tables in --input -> typed tables, quarantine and a report."""

from __future__ import annotations

import argparse
import logging
import sys

from predict.config import load_section
from predict.contract.tables import TableReadError
from predict.contract.validation import (
    ValidationConfig,
    ValidationFailed,
    summary_text,
    validate_folder,
    write_validated,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--input", required=True, help="folder of contract tables")
    parser.add_argument("--out", required=True, help="folder for the validated tables")
    parser.add_argument("--quarantine", required=True, help="folder for quarantined rows")
    parser.add_argument("--report", required=True, help="folder for report.json and report.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_section(args.params, "validate", ValidationConfig)
    try:
        result = validate_folder(args.input, config)
        print(summary_text(result))
        report = write_validated(result, args.out, args.quarantine, args.report)
    except (TableReadError, ValidationFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
