"""``python -m unified_nas.cli``: the ``unas`` command, for when the console script is not on the path."""

from __future__ import annotations

import sys

from unified_nas.cli import main

if __name__ == "__main__":
    sys.exit(main())
