"""Scoring a portfolio (stage ``score``): model inputs, calibrated scores, TreeSHAP
explanations and reasons, the relationship evaluation, drift and early warning.

May import: the core, :mod:`predict.contract`, :mod:`predict.features`,
:mod:`predict.models`. Entry point: :func:`predict.scoring.run.score_folder`.
"""
