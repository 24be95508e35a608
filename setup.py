"""Packaging: which packages ship is found, not listed (everything else is in pyproject.toml).

``backends/`` sits at the repository's top level, as our users' layout asks,
and ships as ``unified_nas.backends``: ``unified_nas/backends`` is a symbolic
link to it, so the import path is real in the source tree (type checker,
editable installs) and the package finder follows it. A new backend folder or
core subpackage is picked up here without editing any list.
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["unified_nas", "unified_nas.*"]))
