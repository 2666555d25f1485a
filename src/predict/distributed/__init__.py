"""Scale-out: the per-client steps (features, labels, scoring) on Dask, partition by client.

May import: the core, :mod:`predict.contract`, :mod:`predict.features`,
:mod:`predict.models`, :mod:`predict.scoring` (it runs their functions unchanged per part).
"""
