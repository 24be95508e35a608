"""Progress of a run on stderr: a bar with the best-so-far on a terminal, one line per trial otherwise (CI logs)."""

from __future__ import annotations

import sys
from typing import cast

from unified_nas.report.records import TrialRecord, incumbent


class Progress:
    """A bar with best-so-far on a terminal; one line per trial otherwise (CI logs)."""

    def __init__(self, total: int | None, directions: list[str], metric: str, enabled: bool = True) -> None:
        self.directions, self.metric, self.enabled = directions, metric, enabled
        self.records: list[TrialRecord] = []
        self.total = total
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="trial", file=sys.stderr, dynamic_ncols=True)

    def update(self, rec: TrialRecord) -> None:
        self.records.append(rec)
        best = incumbent(self.records, self.directions)
        best_txt = f"{cast('list[float]', best.objectives)[0]:.4g}" if best else "-"  # an incumbent has objectives
        if self.bar is not None:
            self.bar.set_postfix_str(f"best {self.metric}={best_txt}")
            self.bar.update(1)
        elif self.enabled:
            val = f"{rec.objectives[0]:.4g}" if rec.objectives else "-"
            print(
                f"[{len(self.records)}/{self.total or '?'}] trial {rec.index} {rec.status} {self.metric}={val}"
                f" best={best_txt} ({rec.duration_s:.1f}s)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
