"""The registered MLflow model, logged as code (MLflow "models from code"; nothing pickled).

:func:`predict.models.tracking.log_training` logs this file as ``python_model`` with the
bundle folder as the artifact ``bundle`` and the ``predict`` package as code. MLflow runs
this file when the model is loaded: :func:`mlflow.models.set_model` registers
:class:`BundleModel`, whose ``load_context`` reads the bundle through
:func:`predict.models.store.load_bundle` (text and JSON only).

What ``predict`` returns, for a frame of feature rows (categorical features as strings;
extra columns ignored; unseen categories scored as missing, as in scoring): a frame with one
column, ``predict.contract.spec.OUTPUT_COLUMN[target]`` (``churn_probability``,
``default_probability`` or ``expected_contribution``), the calibrated output of
:meth:`ModelBundle.predict`, the same function ``predict score`` uses. Portfolio rules that
scoring applies afterwards (:mod:`predict.scoring.scope`, e.g. a client already in default
gets default probability 1) are not the model's and are not applied here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from predict.contract.spec import OUTPUT_COLUMN
from predict.models.store import ModelBundle, load_bundle

BUNDLE_ARTIFACT = "bundle"


class BundleModel(PythonModel):
    """A model bundle behind MLflow's pyfunc interface: features in, calibrated output out."""

    bundle: ModelBundle

    def load_context(self, context: Any) -> None:
        self.bundle = load_bundle(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        column = OUTPUT_COLUMN[self.bundle.target]
        return pd.DataFrame({column: self.bundle.predict(frame)}, index=frame.index)


set_model(BundleModel())
