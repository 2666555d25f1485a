"""Point-in-time features and labels (stage ``features``): as-of calendar, the catalogue,
DuckDB buckets, numpy windows, labels and life-cycle stages.

May import: the core and :mod:`predict.contract`. Modules: build (the entry point), sql,
windows, catalogue (+ catalogue.yaml), snapshots, labels, lifecycle, rates (the rate
reference of the rate spreads).
"""
