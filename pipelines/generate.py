"""DVC stage `generate`: the synthetic portfolio (six contract tables) and its known truth.

Writes nothing but a README.txt in both folders when params `data.raw_dir` is not the
`--out` folder: you brought your own data, so the generator stands aside.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from predict.config import load_params, load_section
from predict.synthetic import GenerateConfig, outcome_window, write_byod_readme, write_portfolio

logger = logging.getLogger("pipelines.generate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--truth", type=Path, default=Path("data/synthetic_truth"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    params = load_params(args.params)
    raw_dir = str((params.get("data") or {}).get("raw_dir", args.out))
    if Path(raw_dir).resolve() != args.out.resolve():
        write_byod_readme(args.out, args.truth, raw_dir)
        logger.info("data.raw_dir is %s: generator skipped (README.txt in %s)", raw_dir, args.out)
        return 0
    config = load_section(args.params, "generate", GenerateConfig)
    info = write_portfolio(config, args.out, args.truth, outcome_window(params))
    logger.info("%s rows in %.1f s", info["rows"], info["seconds_total"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
