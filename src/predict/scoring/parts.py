"""A partitioned book scored with nothing per client on the driver.

Each task (:class:`PartBook`, on a worker) scores its own partition
(:class:`~predict.scoring.clients.PartScorer`) and runs on its clients every step that reads
only a client's own row and events: the actions, the column order, the early-warning rows
(score and event triggers, each client in its own window:
:func:`~predict.scoring.early_warning.early_warning_rows`) and the grade-pair counts of the
migration matrix. It writes its score rows, sorted by client, to a file of its own (atomically)
and sends back only what is small (:class:`PartSummary`): counts that add up, its clients'
early-warning rows, its columns and their dtypes.

The driver (:func:`merge_scores`) then writes ``scores.parquet`` and ``scores.csv`` by a
streaming merge of the sorted part files: it holds at most ``batch_rows`` rows of each part
and the rows of one output batch; the files equal the single machine's (same rows, order,
columns, types and Parquet schema, CSV text).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from predict.io import atomic_path, escape_formulas
from predict.scoring import relationship as rel
from predict.scoring.clients import ClientScores, PartScorer, Tables, conform
from predict.scoring.early_warning import early_warning_rows
from predict.scoring.grades import latest, migration_counts
from predict.scoring.outputs import order_columns
from predict.scoring.result import value_counts


@dataclass
class PartSummary:
    """What a :class:`PartBook` task sends back: no score row."""

    counts: ClientScores  # its report, unseen values and drift counts; ``scores``: no row,
    # only its columns and their dtypes
    rows: int  # its clients
    path: str  # its score rows, sorted by client
    early_warning: pd.DataFrame  # its clients' early-warning rows, unranked
    migration: pd.DataFrame  # previous_grade, rating_grade, clients
    as_of: pd.Timestamp  # the latest as-of and previous as-of of its clients (NaT: none)
    previous_as_of: pd.Timestamp
    values: dict[str, dict[str, int]] = field(default_factory=dict)  # action, rating_grade


@dataclass(frozen=True)
class PartBook:
    """One partition scored to the end on a worker: ``self(tables, previous, explanations)``
    as :class:`~predict.scoring.clients.PartScorer` (``explanations``: the partition's own
    file, which names its score rows' file in ``scores_dir``, a folder every worker can
    write). ``previous_source``: what the run compares with (the early-warning rows say it)."""

    scorer: PartScorer
    scores_dir: str
    previous_source: str

    def __call__(
        self, tables: Tables, previous: pd.DataFrame | None, explanations: str | None
    ) -> PartSummary:
        if explanations is None:
            raise ValueError("a partition's score rows are named after its explanations file")
        part = self.scorer(tables, previous, explanations)
        config = self.scorer.config
        scores = order_columns(rel.assign_actions(part.scores, config.relationship))
        scores = scores.sort_values("client_id", kind="stable", ignore_index=True)
        path = Path(self.scores_dir) / Path(explanations).name
        write_part(scores, path, config.merge_batch_rows)
        early = early_warning_rows(
            scores, tables, config.relationship.early_warning, self.previous_source,
            horizon_months=self.scorer.features_config.horizon_months,
        )  # fmt: skip
        counts = ClientScores(scores.iloc[:0], part.report, part.unseen, part.drift, part.previous)
        return PartSummary(
            counts,
            len(scores),
            str(path),
            early,
            migration_counts(scores),
            latest(scores, "as_of"),
            latest(scores, "previous_as_of"),
            value_counts(scores),
        )


def write_part(scores: pd.DataFrame, path: Path, row_group_rows: int) -> Path:
    """A part's score rows as Parquet (pandas' schema), in row groups of ``row_group_rows``
    rows: a reader of the file holds one row group at a time, so the merge reading
    ``row_group_rows`` rows of each part holds no more. Atomic: temporary file, renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        table = pa.Table.from_pandas(scores, preserve_index=False)
        pq.write_table(table, tmp, row_group_size=row_group_rows)
    return path


def merge_scores(
    paths: Sequence[str | Path],
    layout: pd.DataFrame,
    out_dir: Path,
    metadata: Mapping[str, str],
    run_id: str,
    batch_rows: int,
) -> int:
    """``scores.parquet`` and ``scores.csv`` in ``out_dir`` from part files each sorted by
    ``client_id`` (client ids differ between parts): a k-way merge, batch by batch, each
    batch conformed to ``layout`` (columns and dtypes, an empty frame) with ``run_id``
    appended, as :func:`predict.scoring.outputs.write_outputs` writes a held frame. Both files
    are written beside their place and renamed only when complete. Returns the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    template = layout.assign(run_id=pd.Series([], dtype="str"))
    schema = pa.Schema.from_pandas(template, preserve_index=False)
    extra = {k.encode(): v.encode() for k, v in metadata.items()}
    schema = schema.with_metadata({**(schema.metadata or {}), **extra})
    rows = 0
    with ExitStack() as stack:
        parquet = stack.enter_context(atomic_path(out_dir / "scores.parquet"))
        csv = stack.enter_context(atomic_path(out_dir / "scores.csv"))
        writer = stack.enter_context(pq.ParquetWriter(parquet, schema))
        text = stack.enter_context(open(csv, "w", encoding="utf-8", newline=""))
        for batch in merged_batches(paths, batch_rows):
            frame = conform(batch, layout).assign(run_id=run_id)
            frame = frame.astype({"run_id": template["run_id"].dtype})
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            escape_formulas(frame).to_csv(text, header=rows == 0, index=False)
            rows += len(frame)
        if rows == 0:  # no client: the header alone, as pandas writes an empty frame
            escape_formulas(template).to_csv(text, index=False)
    return rows


def merged_batches(paths: Sequence[str | Path], batch_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of the part files, each sorted by ``client_id``, in one ``client_id`` order,
    batch by batch: at most ``batch_rows`` rows of each part are held, and each batch holds
    every held row up to the smallest last client id held (so at least one part's rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    readers = [
        pq.ParquetFile(p, pre_buffer=False).iter_batches(batch_size=batch_rows) for p in paths
    ]

    def refill(k: int) -> pd.DataFrame | None:
        for batch in readers[k]:
            if batch.num_rows:
                return pa.Table.from_batches([batch]).to_pandas()
        return None

    held = [refill(k) for k in range(len(readers))]
    while any(h is not None for h in held):
        bound = min(str(h["client_id"].iloc[-1]) for h in held if h is not None)
        out = []
        for k, frame in enumerate(held):
            if frame is None:
                continue
            upto = (frame["client_id"] <= bound).to_numpy()
            out.append(frame[upto])
            rest = frame[~upto]
            held[k] = rest if len(rest) else refill(k)
        yield pd.concat(out).sort_values("client_id", kind="stable", ignore_index=True)


__all__ = ["PartBook", "PartSummary", "merge_scores", "merged_batches", "write_part"]
