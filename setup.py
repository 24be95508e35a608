"""Packaging: which packages ship is found, not listed (everything else is in pyproject.toml).

``backends/`` ships as ``unified_nas.backends`` (pyproject's ``package-dir``),
which pyproject's own package finder cannot express, so a new backend folder
or core subpackage is picked up here without editing any list.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["unified_nas", "unified_nas.*"]),
        "unified_nas.backends",
        *(f"unified_nas.backends.{name}" for name in find_packages("backends")),
    ]
)
