"""DVC stage `split`: features + labels -> out-of-time train / valid / test and their sizes."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from predict.config import load_section
from predict.models.split import SplitConfig, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--features", required=True, help="features.parquet of the features stage")
    parser.add_argument("--out", required=True, help="folder for train/valid/test.parquet")
    parser.add_argument("--metrics", required=True, help="split.json with the set sizes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_section(args.params, "split", SplitConfig)
    try:
        report = run(args.features, args.out, args.metrics, config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sizes = {name: s["rows"] for name, s in report["sets"].items()}
    print(f"split ({report['method']}): {json.dumps(sizes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
