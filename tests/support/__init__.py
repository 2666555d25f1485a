"""Plain builders and constants the tests import: contract tables, splits, tiny models,
fabricated report inputs, synthetic configs. Nothing here is a pytest fixture; fixtures
live in the ``conftest.py`` files (``tests/conftest.py`` for those shared across folders)."""
