"""Entry layer: commands that compose every stage (``unas export``, ``unas tabulate``)."""
