"""A conformance suite any backend can run (like scikit-learn's ``check_estimator``)."""
from unified_nas.testing.conformance import check_backend, conformance_recipes

__all__ = ["check_backend", "conformance_recipes"]
