"""A run's trained supernet on disk: ``supernet.pt`` (the bank) and ``supernet.json`` (its record and checksums).

A run trains its supernet once. The weights are written into the run
directory so that a resumed run, and the trial processes of a toolkit that
runs trials apart (NNI's web engine), read them instead of training again.
The record is written last, after the weights file is complete: a run killed
while writing leaves no record, and the supernet is trained again. A record
whose weights file is missing, of another size or another SHA-256, or whose
bank loads with another digest, is refused with one line.

Loading uses ``torch.load(weights_only=True)``: the file holds tensors and
plain data only, and nothing in it is executed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from unified_nas.core.errors import UserError
from unified_nas.evaluation.supernet.bank import Supernet

WEIGHTS, RECORD = "supernet.pt", "supernet.json"
#: A record larger than this is not ours (it holds a few numbers and two digests).
MAX_RECORD_BYTES = 1 << 16


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_supernet(run_dir: Path, supernet: Supernet, cost: Mapping[str, Any]) -> dict[str, Any]:
    """Writes the trained bank and its record into ``run_dir``.

    Args:
        run_dir: The run directory.
        supernet: The trained supernet.
        cost: Its training record (JSON-ready), kept in the record.

    Returns:
        ``cost`` with ``file``, ``bytes``, ``sha256`` (of the file) and ``bank_sha256`` (of the values) added.
    """
    buf = io.BytesIO()
    torch.save(supernet.state_dict(), buf)
    data = buf.getvalue()
    record = {
        **cost,
        "file": WEIGHTS,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bank_sha256": supernet.digest(),
    }
    _write_atomically(run_dir / WEIGHTS, data)
    _write_atomically(run_dir / RECORD, json.dumps(record, sort_keys=True).encode())
    return record


def load_supernet(run_dir: Path, supernet: Supernet, expect: Mapping[str, Any]) -> dict[str, Any] | None:
    """Loads the bank an earlier attempt stored in ``run_dir`` into ``supernet``, checking it.

    Args:
        run_dir: The run directory.
        supernet: A fresh supernet of the same space, data and seed.
        expect: Fields the record must have with these values (the evaluation's settings and seed):
            a record of other settings is not this run's supernet.

    Returns:
        The stored record, or None if there is none (never trained, or killed before it was stored).

    Raises:
        UserError: A record that is not readable, of other settings, or whose weights file is missing
            or damaged (named, with its cause).
    """
    rec_path, path = run_dir / RECORD, run_dir / WEIGHTS

    def refuse(why: str) -> UserError:
        return UserError(f"supernet of run directory {run_dir}: {why}; start a new run")

    if not rec_path.is_file():
        return None
    if rec_path.stat().st_size > MAX_RECORD_BYTES:
        raise refuse(f"{RECORD} is larger than {MAX_RECORD_BYTES} bytes")
    try:
        record = json.loads(rec_path.read_bytes())
    except (ValueError, OSError) as e:
        raise refuse(f"{RECORD} is not readable ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
        raise refuse(f"{RECORD} is not a supernet record")
    for key, value in expect.items():
        if record.get(key) != value:
            raise refuse(f"{RECORD} records {key} {record.get(key)!r}, this run has {value!r}")
    if not path.is_file():
        raise refuse(f"{WEIGHTS} is missing")
    if path.stat().st_size != record.get("bytes"):
        raise refuse(f"{WEIGHTS} has {path.stat().st_size} bytes, the record says {record.get('bytes')}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise refuse(f"{WEIGHTS} is damaged (its SHA-256 differs from the one recorded)")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        supernet.load_state_dict(state)
    except Exception as e:  # checksummed, so only a file written by another version gets here
        raise refuse(f"{WEIGHTS} does not load ({type(e).__name__}: {e})") from None
    if supernet.digest() != record.get("bank_sha256"):
        raise refuse(f"{WEIGHTS} loads to other values than were trained")
    return record
