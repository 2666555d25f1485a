"""DVC stage `features`: validated tables -> features + labels of every as-of date."""

from __future__ import annotations

import argparse
import logging
import sys

from predict.config import load_section
from predict.features.build import FeaturesConfig, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--input", required=True, help="folder of validated tables")
    parser.add_argument("--out", required=True, help="features.parquet (snapshots.json beside)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_section(args.params, "features", FeaturesConfig)
    try:
        result = run(args.input, args.out, config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    s = result.summary
    print(
        f"{args.out}: {s['rows']} rows, {s['clients']} clients, {len(s['snapshots'])} as-of "
        f"dates, {s['censored_rows']} censored rows, {len(s['features'])} features"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
