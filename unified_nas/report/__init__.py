"""Normalized results: records, the SQLite store, renderers."""

from unified_nas.report.records import SCHEMA_VERSION, RunReport, TrialRecord

__all__ = ["SCHEMA_VERSION", "RunReport", "TrialRecord"]
