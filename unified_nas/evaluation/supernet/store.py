"""A trained supernet on disk: ``supernet.pt`` (the bank) and ``supernet.json`` (its record and checksums).

A run trains its supernet once. The weights are written into the run
directory (``unas tabulate``: into a folder beside the table) so that a
resumed run, and the trial processes of a toolkit that runs trials apart
(NNI's web engine), read them instead of training again. The record is
written last, after the weights file is complete: a run killed while writing
leaves no record, and the supernet is trained again.

Everything read back is checked before it is used, and a refusal is one
line naming the file and the cause:

* both files must be regular files (not links, folders or devices);
* the record is strict JSON of at most :data:`MAX_RECORD_BYTES`, with exactly
  the fields :func:`save_supernet` writes, each of its type;
* its ``fingerprint`` and settings must be those of the run asking (the same
  space, data, training settings and seed), so a supernet of another recipe is
  never reused;
* the weights file must have the recorded size (at most
  :data:`MAX_WEIGHTS_BYTES`) and SHA-256, hashed in chunks before it is loaded,
  and must load to values with the recorded digest.

Loading uses ``torch.load(weights_only=True, mmap=True)``: the file holds
tensors and plain data only, nothing in it is executed, and it is not read
into memory twice.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from unified_nas.core.errors import UserError
from unified_nas.evaluation.supernet.bank import Supernet

WEIGHTS, RECORD = "supernet.pt", "supernet.json"
#: A record larger than this is not ours (it holds a few numbers, settings and two digests).
MAX_RECORD_BYTES = 1 << 16
#: A weights file larger than this is refused before it is read (a supernet of the largest spaces the
#: recipe limits allow on one machine stays far below it).
MAX_WEIGHTS_BYTES = 8 << 30
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SHORT = 256  # characters of a free-text field (strategy, device)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _finite(value: float) -> float | None:
    # Strict JSON has no NaN: a training of no step has no loss.
    return value if math.isfinite(value) else None


def save_supernet(folder: Path, supernet: Supernet, cost: Mapping[str, Any]) -> dict[str, Any]:
    """Writes the trained bank and its record into ``folder``.

    Args:
        folder: The run directory (or a table's supernet folder).
        supernet: The trained supernet.
        cost: Its record: the fields of :data:`RECORD_FIELDS` except ``file``, ``bytes``, ``sha256`` and
            ``bank_sha256``, which are added here.

    Returns:
        The record as written.
    """
    buf = io.BytesIO()
    torch.save(supernet.state_dict(), buf)
    data = buf.getvalue()
    record = {
        **cost,
        "train_loss": _finite(float(cost["train_loss"])),
        "file": WEIGHTS,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bank_sha256": supernet.digest(),
    }
    _check_record(record, folder / RECORD)
    _write_atomically(folder / WEIGHTS, data)
    _write_atomically(folder / RECORD, json.dumps(record, sort_keys=True, allow_nan=False).encode())
    return record


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _is_short_text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= _SHORT


#: Every field of a record and the check its value must pass (``save_supernet`` writes exactly these).
RECORD_FIELDS: dict[str, Any] = {
    "kind": _is_short_text,
    "fingerprint": lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)),
    "seed": lambda v: _is_int(v) and v >= 0,
    "spec": lambda v: isinstance(v, dict) and len(json.dumps(v)) <= _SHORT * 4,
    "strategy": _is_short_text,
    "supernet_wall_s": lambda v: _is_number(v) and v >= 0,
    "supernet_epochs": lambda v: _is_int(v) and v >= 0,
    "steps": lambda v: _is_int(v) and v >= 0,
    "paths": lambda v: _is_int(v) and v >= 0,
    "train_loss": lambda v: v is None or _is_number(v),
    "device": _is_short_text,
    "training": lambda v: isinstance(v, dict) and len(json.dumps(v)) <= _SHORT * 4,
    "file": lambda v: v == WEIGHTS,
    "bytes": lambda v: _is_int(v) and 0 < v <= MAX_WEIGHTS_BYTES,
    "sha256": lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)),
    "bank_sha256": lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)),
}


def _check_record(record: Mapping[str, Any], path: Path) -> None:
    """Raises ValueError naming the first field of ``record`` that is missing, unknown or of a wrong type."""
    for key in record:
        if key not in RECORD_FIELDS:
            raise ValueError(f"{path.name} has an unknown field {str(key)[:40]!r}")
    for key, ok in RECORD_FIELDS.items():
        if key not in record:
            raise ValueError(f"{path.name} has no field {key!r}")
        if not ok(record[key]):
            raise ValueError(f"{path.name}: field {key!r} is not what a supernet record holds")


def _regular(path: Path) -> os.stat_result | None:
    """``path``'s status if it is a regular file, None if it does not exist.

    Raises:
        ValueError: It exists as something else (a link, a folder, a device, a pipe).
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path.name} is not a regular file")
    return st


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record stored in ``folder``, checked field by field; None if there is none.

    Raises:
        ValueError: A record that is not a regular file, too large, not strict JSON, or with a field
            missing, unknown or of a wrong type (the message names it).
    """
    path = folder / RECORD
    st = _regular(path)
    if st is None:
        return None
    if st.st_size > MAX_RECORD_BYTES:
        raise ValueError(f"{RECORD} is larger than {MAX_RECORD_BYTES} bytes")

    def no_constants(name: str) -> None:
        raise ValueError(f"{RECORD} is not strict JSON ({name})")

    try:
        record = json.loads(path.read_bytes(), parse_constant=no_constants)
    except UnicodeDecodeError as e:
        raise ValueError(f"{RECORD} is not readable ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{RECORD} is not JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{RECORD} is not a supernet record")
    _check_record(record, path)
    return record


def load_supernet(
    folder: Path, supernet: Supernet, expect: Mapping[str, Any], where: str, remedy: str
) -> dict[str, Any] | None:
    """Loads the bank stored in ``folder`` into ``supernet``, checking it first.

    Args:
        folder: The run directory (or a table's supernet folder).
        supernet: A fresh supernet of the same space, data and seed.
        expect: Fields the record must have with these values (fingerprint, settings, seed): a record of
            other values is another recipe's supernet.
        where: What the folder is, for messages (``run directory X``).
        remedy: What the user can do about a refusal, for messages.

    Returns:
        The stored record, or None if there is none (never trained, or killed before it was stored).

    Raises:
        UserError: One line naming ``where``, the file and the cause: a record or weights file that is
            not a regular file, malformed, of other settings, of another size or SHA-256, or that does not
            load to the recorded values.
    """
    path = folder / WEIGHTS
    try:
        record = read_record(folder)
        if record is None:
            return None
        for key, value in expect.items():
            if record[key] != value:
                raise ValueError(f"{RECORD} was trained with another {key} than this one's")
        st = _regular(path)
        if st is None:
            raise ValueError(f"{WEIGHTS} is missing")
        if st.st_size != record["bytes"]:
            raise ValueError(f"{WEIGHTS} has {st.st_size} bytes, the record says {record['bytes']}")
        if _sha256_of(path) != record["sha256"]:
            raise ValueError(f"{WEIGHTS} is damaged (its SHA-256 differs from the one recorded)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            if not isinstance(state, dict) or state.get("seed") != record["seed"]:
                raise ValueError("another seed")
            supernet.load_state_dict(state)
        except Exception as e:  # checksummed, so only a file written by another version gets here
            raise ValueError(f"{WEIGHTS} does not load ({type(e).__name__}: {str(e)[:200]})") from None
        if supernet.digest() != record["bank_sha256"]:
            raise ValueError(f"{WEIGHTS} loads to other values than were trained")
    except (ValueError, OSError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UserError(f"supernet of {where}: {why}; {remedy}") from None
    return record
