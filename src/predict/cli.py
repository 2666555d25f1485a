"""The ``predict`` command line: one Typer app, one sub-command per job.

Every DVC stage runs one of these commands: ``pipelines/<stage>.py`` is :func:`run_stage`
with the stage's name, so each option is declared once, here (``predict <stage> --help``).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from predict.models.training import TrainConfig

app = typer.Typer(help="Evaluate lending client relationships.", no_args_is_help=True)

# Options every command shares, declared once.
Quiet = Annotated[bool, typer.Option("--quiet", help="Only warnings and errors.")]
Params = Annotated[
    Path | None,
    typer.Option(
        help="Params file; each command reads only its own sections. Default: params.yaml "
        "in the working folder when there is one, else built-in defaults (with a warning).",
        show_default=False,
    ),
]
PARAMS: Path | None = None
T = TypeVar("T")
FEATURES_FILE = Path("data/features/features.parquet")
SPLIT_DIR = Path("data/split")
SPLIT_METRICS = Path("metrics/split.json")


def run_stage(command: str, argv: Sequence[str] | None = None) -> int:
    """Run ``predict <command>`` with ``argv`` (default: this process's arguments) and return
    its exit code: what a ``pipelines/`` stage script does."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=[command, *args], prog_name=f"pipelines/{command}.py")
    except SystemExit as exc:  # click ends every standalone run with one
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


def _configure_logging(quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(message: object, code: int = 1) -> NoReturn:
    """One line on stderr (``error: ...``) and exit ``code``: no traceback for a mistake."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def _settings(params: Path | None, section: str, cls: type[T]) -> T:
    """Section ``section`` of the params file (``--params``, else ./params.yaml when present)
    or built-in defaults; a missing ``--params`` file or section is a one-line error."""
    from predict.config import ConfigError, load_settings

    try:
        return load_settings(params, section, cls)
    except ConfigError as exc:
        _fail(exc, code=2)


def _params_path(params: Path | None) -> Path | None:
    """The params file in use (see :func:`predict.config.params_file`), or a one-line error."""
    from predict.config import ConfigError, params_file

    try:
        return params_file(params)
    except ConfigError as exc:
        _fail(exc, code=2)


# Sub-commands are added below, one function each; keep their logic in the library.


@app.command()
def report(
    scores: Annotated[Path, typer.Option(help="Folder of the scoring outputs.")] = Path(
        "data/scores"
    ),
    models: Annotated[Path, typer.Option(help="Folder of models/<target>/.")] = Path("models"),
    metrics: Annotated[Path, typer.Option(help="Folder of metrics/detail/<target>.json.")] = Path(
        "metrics"
    ),
    tables: Annotated[Path, typer.Option(help="Folder of validated tables.")] = Path(
        "data/validated"
    ),
    plots: Annotated[Path, typer.Option(help="Folder of plots/<target>/*.csv.")] = Path("plots"),
    features: Annotated[
        Path,
        typer.Option(help="Features table, every snapshot (the index series; absent: none)."),
    ] = Path("data/features/features.parquet"),
    out: Annotated[Path, typer.Option(help="Reports folder; the site is OUT/review.")] = Path(
        "reports"
    ),
    client: Annotated[
        list[str] | None, typer.Option("--client", help="Also write this client's page.")
    ] = None,
    params: Params = PARAMS,
    quiet: Quiet = False,
) -> None:
    """Build the static review report for risk teams (OUT/review/index.html)."""
    from predict.config import ConfigError
    from predict.report import (
        CardPolicy,
        ReportConfig,
        ReportInputError,
        build_report,
        load_card_policy,
        load_inputs,
        load_report_config,
        site_dir,
    )

    _configure_logging(quiet)
    path = _params_path(params)
    try:
        config = load_report_config(path) if path else ReportConfig()
        policy = load_card_policy(path) if path else CardPolicy()
    except ConfigError as exc:
        _fail(exc, code=2)
    try:
        from predict.report.branches import feature_columns

        columns = feature_columns(config.dimensions)
        inputs = load_inputs(scores, models, metrics, tables, plots, features, columns)
    except (ReportInputError, OSError) as exc:
        _fail(exc)  # the scoring outputs, models or tables: data (1), not settings (2)
    try:
        result = build_report(inputs, site_dir(out), config, clients=client or [], policy=policy)
    except ReportInputError as exc:
        _fail(exc, code=2)  # a --client the scores do not hold: an option
    except OSError as exc:
        _fail(exc)
    typer.echo(str(result.index))


@app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="Folder of contract tables (CSV or Parquet).")],
    mode: Annotated[str | None, typer.Option(help="strict | lenient (default: params)")] = None,
    as_of: Annotated[str | None, typer.Option(help="End of the data, YYYY-MM-DD.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the validated tables.")] = Path(
        "data/validated"
    ),
    quarantine: Annotated[Path, typer.Option(help="Folder for bad rows.")] = Path(
        "data/quarantine"
    ),
    report: Annotated[Path, typer.Option(help="Folder for the report.")] = Path(
        "reports/validation"
    ),
    params: Params = PARAMS,
    quiet: Quiet = False,
) -> None:
    """Check a folder against the data contract; write typed tables, quarantine and a report."""
    from predict.contract.tables import TableReadError
    from predict.contract.validation import (
        ValidationConfig,
        ValidationFailed,
        summary_text,
        validate_folder,
        write_validated,
    )

    _configure_logging(quiet)
    base = _settings(params, "validate", ValidationConfig)
    day = _iso_date(as_of, "--as-of") if as_of else base.as_of
    try:
        config = ValidationConfig(mode=mode or base.mode, as_of=day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mode") from exc
    try:
        result = validate_folder(folder, config)
        typer.echo(summary_text(result))
        typer.echo(f"report: {write_validated(result, out, quarantine, report)}")
    except (TableReadError, ValidationFailed, OSError) as exc:
        _fail(exc)


def _iso_date(text: str, option: str) -> dt.date:
    """``text`` as a date, or a usage error naming ``option``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from exc


@app.command()
def partition(
    input_dir: Annotated[Path, typer.Option("--input", help="Folder of validated tables.")] = Path(
        "data/validated"
    ),
    out: Annotated[Path, typer.Option(help="Partitioned dataset folder (replaced whole).")] = Path(
        "data/partitioned"
    ),
    params: Params = PARAMS,
    quiet: Quiet = False,
    stand_aside: Annotated[
        bool,
        typer.Option(
            "--stand-aside",
            help="Write only a README.txt in OUT when params data.score_input is not OUT (the "
            "DVC stage: the score stage then reads the validated tables).",
        ),
    ] = False,
) -> None:
    """Write the validated tables as a Parquet dataset partitioned by client hash, with its
    digest, for runs on a Dask cluster (section `partition`; docs/scaling.md)."""
    from predict.distributed.dataset import PartitionConfig, write_dataset

    _configure_logging(quiet)
    if stand_aside and _score_reads_elsewhere(_params_path(params), out):
        return
    config = _settings(params, "partition", PartitionConfig)
    try:
        digest = write_dataset(input_dir, out, config)
    except (OSError, ValueError) as exc:
        _fail(exc)
    rows = sum(t["rows"] for t in digest["tables"].values())
    typer.echo(
        f"{out}: {len(digest['tables'])} tables, {rows} rows in {digest['partitions']} partitions"
    )


@app.command()
def features(
    input_dir: Annotated[
        Path,
        typer.Option(
            "--input", help="Folder of validated tables, or a partitioned dataset (with --dask)."
        ),
    ] = Path("data/validated"),
    out: Annotated[Path, typer.Option(help="features.parquet (snapshots.json beside it).")] = Path(
        "data/features/features.parquet"
    ),
    params: Params = PARAMS,
    quiet: Quiet = False,
    dask: Annotated[
        bool, typer.Option("--dask", help="Run on Dask, partitioned by client (docs/scaling.md).")
    ] = False,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (implies --dask); else local.")
    ] = None,
    partitions: Annotated[int, typer.Option(min=1, help="Client partitions with --dask.")] = 8,
) -> None:
    """Build point-in-time features and labels for every as-of date (section `features`)."""
    from predict.features.build import FeaturesConfig, run

    _configure_logging(quiet)
    config = _settings(params, "features", FeaturesConfig)
    try:
        if dask or scheduler:
            from predict.distributed import steps as distributed
            from predict.distributed.partitions import DistributedConfig

            on_dask = DistributedConfig(partitions, scheduler)
            result = distributed.run(input_dir, out, config, on_dask)
        else:
            result = run(input_dir, out, config)
    except (OSError, ValueError) as exc:  # FileNotFoundError, scheduler unreachable
        _fail(exc)
    s = result.summary
    typer.echo(
        f"{out}: {s['rows']} rows, {s['clients']} clients, {len(s['snapshots'])} as-of dates "
        f"({s['censored_rows']} censored rows), {len(s['features'])} features"
    )


@app.command()
def split(
    features: Annotated[Path, typer.Option(help="Features of every as-of.")] = FEATURES_FILE,
    out: Annotated[Path, typer.Option(help="Folder of train/valid/test.parquet.")] = SPLIT_DIR,
    metrics: Annotated[Path, typer.Option(help="Set sizes (detail/ beside).")] = SPLIT_METRICS,
    params: Params = PARAMS,
    quiet: Quiet = False,
) -> None:
    """Split features + labels out of time into train / valid / test (section `split`)."""
    import json

    from predict.models.split import SplitConfig, run

    _configure_logging(quiet)
    config = _settings(params, "split", SplitConfig)
    try:
        report = run(features, out, metrics, config)
    except (OSError, ValueError) as exc:
        _fail(exc)
    sizes = {name: s["rows"] for name, s in report["sets"].items()}
    typer.echo(f"split ({report['method']}): {json.dumps(sizes)}")


@app.command()
def score(
    input_dir: Annotated[
        Path,
        typer.Option(
            "--input",
            help="Folder of contract tables, or a partitioned dataset (`predict partition`; "
            "scored on the cluster of --scheduler, each worker reading its partitions).",
        ),
    ],
    models: Annotated[Path, typer.Option(help="Folder of models/<target>/.")] = Path("models"),
    out: Annotated[Path, typer.Option(help="Folder for the scoring outputs.")] = Path(
        "data/scores"
    ),
    as_of: Annotated[str | None, typer.Option(help="Month end YYYY-MM-DD (default: latest).")] = (
        None
    ),
    params: Params = PARAMS,
    previous: Annotated[Path | None, typer.Option(help="Earlier scores.parquet to compare.")] = (
        None
    ),
    validated: Annotated[bool, typer.Option("--validated", help="Input already validated.")] = (
        False
    ),
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only warnings.")] = False,
    after_data: Annotated[
        bool,
        typer.Option(
            "--after-data",
            help="Score an as-of after the end of the data (the months without rows then "
            "read as no activity); refused without it.",
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address, or 'local' (a LocalCluster): features, outputs, "
            "TreeSHAP and reasons per client partition on Dask (default: score.distributed)."
        ),
    ] = None,
    book: Annotated[
        Path | None,
        typer.Option(
            help="The input is some clients' rows cut from this book (e.g. one client): the "
            "validated book (data/validated) or a partitioned dataset, whose skeleton gives the "
            "tables and columns the book has, the scoring date and its checks; a table file "
            "with no row then means nothing happened to these clients.",
        ),
    ] = None,
) -> None:
    """Score every client of a folder: probabilities, reasons, value, action, drift."""
    from predict.config import ConfigError
    from predict.contract.tables import TableReadError
    from predict.contract.validation import ValidationFailed
    from predict.distributed.cluster import open_cluster
    from predict.scoring.config import configs_from_params
    from predict.scoring.result import summary_lines
    from predict.scoring.run import score_folder

    _configure_logging(quiet)
    day = _iso_date(as_of, "--as-of") if as_of else None
    try:
        config, features_config = configs_from_params(_params_path(params))
    except ConfigError as exc:
        _fail(exc, code=2)
    try:
        result = score_folder(
            input_dir,
            models,
            out,
            config,
            features_config,
            as_of=day,
            previous_path=previous,
            validated=validated,
            quiet=True if quiet else None,
            after_data=after_data,
            scheduler=scheduler,
            cluster_factory=open_cluster,
            book=book,
        )
    except (OSError, ValueError, ValidationFailed, TableReadError) as exc:
        _fail(exc)
    typer.echo("\n".join(summary_lines(result)))


@app.command()
def dictionary(
    out: Annotated[Path, typer.Option(help="Where to write it.")] = Path("docs/data_dictionary.md"),
) -> None:
    """Write the data dictionary (tables, columns, rules) generated from the contract."""
    from predict.contract.dictionary import render_data_dictionary
    from predict.io import write_text

    typer.echo(str(write_text(render_data_dictionary(), out)))


@app.command("import-online-retail")
def import_online_retail(
    src: Annotated[Path, typer.Option(help="UCI Online Retail CSV (optionally .gz).")],
    out: Annotated[Path, typer.Option(help="Folder for the contract tables.")],
    fmt: Annotated[str, typer.Option("--format", help="parquet | csv | csv.gz")] = "parquet",
    quiet: Quiet = False,
) -> None:
    """Map the UCI Online Retail export onto contract tables (clients, revenue)."""
    from predict.contract.online_retail import import_online_retail as run_import
    from predict.contract.tables import TableReadError

    _configure_logging(quiet)
    try:
        written = run_import(src, out, fmt)
    except (ValueError, TableReadError) as exc:
        _fail(exc)
    for path in written.values():
        typer.echo(str(path))


def _targets(target: str) -> tuple[str, ...]:
    from predict.contract.spec import TARGETS

    if target != "all" and target not in TARGETS:
        _fail(f"unknown target {target!r}; expected all or one of {TARGETS}", code=2)
    return TARGETS if target == "all" else (target,)


def _with_revenue_scale(config: TrainConfig, params: Path | None) -> TrainConfig:
    """``config`` with ``train.baseline.revenue_scale: auto`` resolved to H / 12 and
    ``train.contribution.offset.scale: auto`` to H / months, H being the labels' horizon:
    ``features.horizon_months`` read as the features stage reads it (its default when the
    section leaves it out); a params file with no ``features`` section is a one-line error,
    as for the features stage itself."""
    import dataclasses

    from predict.features.build import FeaturesConfig
    from predict.models.baselines import AUTO, resolve_revenue_scale
    from predict.models.offset import resolve_offset_scale

    offset = config.contribution.offset
    if config.baseline.revenue_scale != AUTO and (offset is None or offset.scale != AUTO):
        return config
    horizon = _settings(params, "features", FeaturesConfig).horizon_months
    baseline = resolve_revenue_scale(config.baseline, horizon)
    if offset is not None:
        contribution = dataclasses.replace(
            config.contribution, offset=resolve_offset_scale(offset, horizon)
        )
        config = dataclasses.replace(config, contribution=contribution)
    return dataclasses.replace(config, baseline=baseline)


def _label_settings(params: Path | None) -> dict[str, int] | None:
    """``features.horizon_months`` and ``inactivity_months`` as the features stage read
    them: the bundle keeps them, and scoring refuses others. A params file without a
    ``features`` section records none (said; scoring then warns that it cannot check)."""
    from predict.config import load_params
    from predict.features.build import FeaturesConfig

    path = _params_path(params)
    if path is not None and "features" not in (load_params(path) or {}):
        typer.echo(
            f"warning: {path} has no features section: the models do not record the label "
            "horizon they are trained for (scoring cannot check it)",
            err=True,
        )
        return None
    features = _settings(params, "features", FeaturesConfig)
    return {
        "horizon_months": features.horizon_months,
        "inactivity_months": features.inactivity_months,
    }


@app.command()
def train(
    target: Annotated[str, typer.Option(help="churn | default | contribution | all")] = "all",
    params: Params = PARAMS,
    split: Annotated[Path, typer.Option(help="Folder of train/valid/test.parquet.")] = Path(
        "data/split"
    ),
    models: Annotated[Path, typer.Option(help="Bundles go to <models>/<target>/.")] = Path(
        "models"
    ),
    metrics: Annotated[Path, typer.Option(help="<metrics>/[detail/]<target>.json.")] = Path(
        "metrics"
    ),
    plots: Annotated[Path, typer.Option(help="<plots>/<target>/*.csv.")] = Path("plots"),
    truth: Annotated[Path, typer.Option(help="Generator truth, used if present.")] = Path(
        "data/synthetic_truth"
    ),
    quiet: Quiet = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address, or 'local' (a LocalCluster): fit the boosters with "
            "lightgbm.dask, the train split read by the workers, early stopping decided here "
            "(docs/scaling.md; default: train.distributed)."
        ),
    ] = None,
) -> None:
    """Train, calibrate, evaluate and register models (what `dvc repro train` runs)."""
    import os

    from predict.distributed.partitions import DistributedConfig, dask_client
    from predict.models.tracking import tracking_uri
    from predict.models.training import SkippedTraining, TrainConfig, run_training

    _configure_logging(quiet)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    config = _settings(params, "train", TrainConfig)
    scheduler = scheduler or config.distributed
    try:
        with dask_client(DistributedConfig(scheduler=scheduler)) as client:
            for name in _targets(target):
                if name == "contribution":  # the baseline's scale follows the horizon
                    config = _with_revenue_scale(config, params)
                result = run_training(
                    split,
                    name,
                    config,
                    models_dir=models,
                    metrics_dir=metrics,
                    plots_dir=plots,
                    truth_dir=truth,
                    tracking_uri=tracking_uri(os.environ, Path.cwd()),
                    client=client,
                    label_settings=_label_settings(params),
                )
                if isinstance(result, SkippedTraining):
                    typer.echo(f"{name}: skipped ({result.reason}) -> {result.bundle_dir}")
                else:
                    typer.echo(f"{name}: model {result.bundle.version} -> {result.bundle_dir}")
    except (OSError, KeyError, ValueError) as exc:  # FileNotFoundError, scheduler unreachable
        _fail(exc)


@app.command()
def promote(
    target: Annotated[str, typer.Option(help="churn | default | contribution | all")] = "all",
    params: Params = PARAMS,
    split: Annotated[Path, typer.Option(help="Both models are re-scored on its test.parquet.")] = (
        Path("data/split")
    ),
) -> None:
    """Move the registry alias `champion` to the challenger when it is better on test.

    Better: the paired bootstrap interval of the metric gain excludes zero and calibration is
    no worse (docs/models.md, "Promotion"); the reason is printed and tagged on the version.
    """
    import os

    from predict.models.tracking import promote as promote_challenger
    from predict.models.tracking import tracking_uri
    from predict.models.training import TrainConfig, promotion_data, task_of

    _configure_logging(quiet=True)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    config = _settings(params, "train", TrainConfig)
    uri = tracking_uri(os.environ, Path.cwd())
    for name in _targets(target):
        task = task_of(name)
        test = None
        if (split / "test.parquet").exists():
            test = promotion_data(split, name, config.evaluation)
        try:
            decision = promote_challenger(uri, name, task, config.tracking, test)
        except (LookupError, ValueError) as exc:
            _fail(exc)
        typer.echo(decision.describe())


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder for the seven contract tables.")] = Path(
        "data/synthetic"
    ),
    truth: Annotated[Path, typer.Option(help="Folder for the known truth (apart).")] = Path(
        "data/synthetic_truth"
    ),
    clients: Annotated[int | None, typer.Option(help="Number of clients (default: params).")] = (
        None
    ),
    seed: Annotated[int | None, typer.Option(help="Random seed (default: params).")] = None,
    params: Params = PARAMS,
    quiet: Quiet = False,
    stand_aside: Annotated[
        bool,
        typer.Option(
            "--stand-aside",
            help="Write only a README.txt in OUT and TRUTH when params data.raw_dir is not OUT "
            "(the DVC stage: you brought your own data).",
        ),
    ] = False,
) -> None:
    """Generate the synthetic lending portfolio with its known truth (docs/synthetic.md)."""
    import dataclasses

    from predict.config import ConfigError, from_dict, load_params, load_section
    from predict.synthetic import GenerateConfig, outcome_window, write_portfolio

    _configure_logging(quiet)
    path = _params_path(params)
    try:
        loaded = load_params(path) if path else {}
    except ConfigError as exc:
        _fail(exc, code=2)
    if stand_aside and _brought_own_data(loaded, out, truth):
        return
    try:
        if path:
            base = load_section(path, "generate", GenerateConfig)
        else:
            base = from_dict(GenerateConfig, None, where="generate (built-in defaults)")
        config = dataclasses.replace(
            base,
            n_clients=base.n_clients if clients is None else clients,
            seed=base.seed if seed is None else seed,
        )
    except (ConfigError, ValueError) as exc:
        _fail(exc, code=2)
    info = write_portfolio(config, out, truth, outcome_window(loaded))
    typer.echo(f"{out}: {info['rows']} rows; truth in {truth} ({info['seconds_total']} s)")


def _score_reads_elsewhere(params: Path | None, out: Path) -> bool:
    """True (and only a README written in OUT, replacing it) when params ``data.score_input``
    (default data/validated) is not OUT: the DVC score stage does not read the dataset."""
    from predict.config import ConfigError, load_params
    from predict.io import atomic_dir

    try:
        loaded = load_params(params) if params else {}
    except ConfigError as exc:
        _fail(exc, code=2)
    data = loaded.get("data")
    source = str(data.get("score_input", "data/validated") if isinstance(data, dict) else "")
    if source and Path(source).resolve() == out.resolve():
        return False
    with atomic_dir(out) as tmp:
        (tmp / "README.txt").write_text(
            f"The score stage reads {source or 'data/validated'} (params data.score_input), not "
            "this dataset. Set data.score_input to this folder (and score.distributed to a Dask "
            "scheduler or local) to score the book from a dataset partitioned by client, each "
            "worker reading its own partitions (docs/scaling.md).\n"
        )
    typer.echo(f"data.score_input is {source or 'data/validated'}: partitioning skipped "
               f"(README.txt in {out})")  # fmt: skip
    return True


def _brought_own_data(params: dict[str, object], out: Path, truth: Path) -> bool:
    """True (and a README written in both folders) when params ``data.raw_dir`` is not OUT."""
    from predict.synthetic import write_byod_readme

    data = params.get("data")
    raw_dir = str(data.get("raw_dir", out) if isinstance(data, dict) else out)
    if Path(raw_dir).resolve() == out.resolve():
        return False
    write_byod_readme(out, truth, raw_dir)
    typer.echo(f"data.raw_dir is {raw_dir}: generator skipped (README.txt in {out})")
    return True
