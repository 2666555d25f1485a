"""DVC stage `score`: validated tables + models -> scores, explanations, drift, early warning."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from predict.contract.validation import ValidationFailed
from predict.scoring.config import configs_from_params
from predict.scoring.result import summary_lines
from predict.scoring.run import score_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--input", required=True, help="folder of contract tables")
    parser.add_argument("--validated", action="store_true", help="input is already validated")
    parser.add_argument("--models", required=True, help="folder of models/<target>/")
    parser.add_argument("--out", required=True, help="folder for the scoring outputs")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="month end (default: latest)")
    parser.add_argument("--previous", help="an earlier scores.parquet to compare with")
    parser.add_argument("--reference", help="training rows for drift (data/split/train.parquet)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config, features_config = configs_from_params(args.params)
    try:
        result = score_folder(
            args.input,
            args.models,
            args.out,
            config,
            features_config,
            as_of=args.as_of,
            previous_path=args.previous,
            reference_path=args.reference,
            validated=args.validated,
            quiet=True if args.quiet else None,
        )
    except (FileNotFoundError, ValueError, ValidationFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
