"""Bounds shared by every entry point (recipe, CLI, runner), defined once.

A recipe is untrusted input: a few bytes such as ``depth: 100000000`` would
otherwise make validation build a list of that many layers, and a width of
10**12 would pass validation and exhaust memory at the first trial. The caps
sit far above what NAS on one machine uses (the DARTS network has 20 cells
of at most 4x36 channels) and below what would take the machine down.
"""

from __future__ import annotations

MAX_SEED = 2**32 - 1  # numpy's RandomState, and with it NNI and keras-tuner, takes seeds below 2**32
MAX_DEPTH = 64  # macro layers
MAX_WIDTH = 65_536  # units of a linear layer, channels of a conv layer or a cell
MAX_CELLS = 64  # stacked cells
MAX_NODES = 16  # intermediate nodes of a cell, and inputs per node
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_IMAGE_SIDE = 1024  # pixels per side that data.image_size resizes images to
MAX_SUBSAMPLE = 10_000_000  # data.subsample: examples kept
