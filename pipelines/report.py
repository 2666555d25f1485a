"""DVC stage ``report``: the static review report for risk teams under ``reports/review/``.

Reads the scoring outputs, model metadata, metrics and plots, and the validated tables;
writes ``reports/review/index.html`` (portfolio), client pages, explanations and the
model card, replacing the previous report only when the new one is complete.
"""

from __future__ import annotations

import argparse
import logging

from predict.report import build_report, load_inputs, load_report_config, site_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scores", default="data/scores")
    parser.add_argument("--models", default="models")
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--plots", default="plots")
    parser.add_argument("--tables", default="data/validated")
    parser.add_argument("--out", default="reports", help="reports folder; the site is <out>/review")
    parser.add_argument("--client", action="append", default=[], help="also page this client")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_report_config(args.params)
    inputs = load_inputs(args.scores, args.models, args.metrics, args.tables, args.plots)
    result = build_report(inputs, site_dir(args.out), config, clients=args.client)
    logging.getLogger("report").info("report written: %s", result.index)


if __name__ == "__main__":
    main()
