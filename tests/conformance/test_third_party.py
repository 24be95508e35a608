"""The living example of a third party's conformance test: the whole suite on one backend in one call.

A package that registers its backend under the entry-point group
``unified_nas.backends`` tests it with these lines, its own name in place of
``reference`` (the toolkit-free backend: seconds here). Where a check fails,
the assertion says which promise the backend broke.
"""

import pytest

from unified_nas.testing import check_backend

pytestmark = pytest.mark.slow  # our marker for real searches; a third party's suite needs none


def test_a_backend_passes_the_whole_suite(tmp_path):
    check_backend("reference", tmp_path)
