"""CI: the committed results are the code's results.

Run after ``dvc repro`` (``.ci/run`` does, in its clean clone): fails when ``dvc.lock``,
``metrics/`` or ``plots/`` differ from what is committed, or when the pipeline wrote a
result file that is not committed. The pipeline is byte-reproducible (same data and params
give the same features, models and metrics), so any difference is a change someone forgot
to commit: run ``dvc repro`` and commit ``dvc.lock``, ``metrics/`` and ``plots/``.

    python scripts/check_results.py [--project DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

RESULTS = ("dvc.lock", "metrics", "plots")


def stale_results(project: Path) -> list[str]:
    """``git status`` lines of the result paths that differ from HEAD (untracked included)."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *RESULTS],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"check_results: git status failed in {project}: {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    stale = stale_results(args.project)
    if not stale:
        print("check_results: dvc.lock, metrics/ and plots/ match the commit")
        return 0
    print(
        "check_results: the pipeline's results differ from the committed ones "
        "(run `dvc repro` and commit dvc.lock, metrics/ and plots/):",
        file=sys.stderr,
    )
    for line in stale:
        print(f"  {line}", file=sys.stderr)
    diff = subprocess.run(
        ["git", "diff", "--stat", "--", *RESULTS], cwd=args.project, capture_output=True, text=True
    )
    print(diff.stdout, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
