"""A conformance suite any backend can run (like scikit-learn's ``check_estimator``).

:func:`check_backend` runs everything; :mod:`unified_nas.testing.behaviour` has one check
function per behaviour promise (:data:`~unified_nas.testing.behaviour.PROMISES`) for
parametrized test suites.
"""

from unified_nas.testing.behaviour import PROMISES, check_promise, promise_gaps
from unified_nas.testing.conformance import conformance_recipes
from unified_nas.testing.suite import check_backend

__all__ = ["PROMISES", "check_backend", "check_promise", "conformance_recipes", "promise_gaps"]
