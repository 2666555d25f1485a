"""Where a training run comes from, so MLflow and DVC tell the same story.

:func:`run_context` gives the tags every MLflow training run carries
(:mod:`predict.models.tracking`):

- ``git_revision``: the commit checked out in the project (``git rev-parse HEAD``), or
  ``unknown`` outside a git work tree or without git;
- ``git_dirty``: ``true`` when tracked files differ from that commit (the run is then not
  exactly that revision; ``dvc exp run`` runs on such a work tree by design), ``false``,
  or ``unknown``;
- ``dvc_experiment``: the experiment's name when the run is part of ``dvc exp run``
  (DVC sets ``DVC_EXP_NAME``), else ``none``;
- ``dvc_baseline_rev``: the commit the experiment derives from (``DVC_EXP_BASELINE_REV``),
  else ``none``.

The stage's params (``train`` section, as trained) are logged as MLflow params
``train.<key>`` and the split's digest as ``data_hash``: a run in the MLflow UI and a row of
``dvc exp show`` can be matched by experiment name, revision, params and metric names.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

UNKNOWN = "unknown"
NONE = "none"


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_context(
    project_dir: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The provenance tags of a run started in ``project_dir`` (see the module docstring)."""
    env = os.environ if environ is None else environ
    folder = Path(project_dir)
    revision = _git(folder, "rev-parse", "HEAD")
    status = None if revision is None else _git(folder, "status", "--porcelain", "-uno")
    return {
        "git_revision": revision or UNKNOWN,
        "git_dirty": UNKNOWN if status is None else str(bool(status)).lower(),
        "dvc_experiment": env.get("DVC_EXP_NAME") or NONE,
        "dvc_baseline_rev": env.get("DVC_EXP_BASELINE_REV") or NONE,
    }
