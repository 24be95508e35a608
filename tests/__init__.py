"""The test suite, laid out like the package it tests.

``unit/``: one stage's behaviour at a time, fast and toolkit-light.
``backends/<name>/``: one toolkit's backend (``nni``, ``optuna``, ``autokeras``), real searches.
``conformance/``: every promise on every registered backend (``unified_nas.testing``), kill and resume.
``recipes/``: the shipped recipes run end to end.
``support/``: test code that is not a test and does not ship (a throwaway PostgreSQL server).
``data/``: broken recipes and data files the refusals are tested on.
``conftest.py``: shared fixtures, and :func:`~tests.conftest.unas`, the CLI as a user's shell runs it.
"""
