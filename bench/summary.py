"""Reduce the runs of each case to medians and ranges, and rows to ratios."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from cases import Plan, Row
from runner import Case


@dataclass
class Stat:
    """Median and range of one case's successful runs."""

    n: int
    median: float | None  # seconds: the timed call, or the whole process for CLI cases
    lo: float | None
    hi: float | None
    wall: float | None  # whole-process seconds (median)
    peak_rss_mb: float | None  # whole-process peak RSS (median over runs)
    call_peak_mb: float | None  # growth of RSS during the call (max over runs)
    out_bytes: int | None
    result_nbytes: int | None
    dtype: str | None
    shape: list[int] | None
    errors: list[str]
    extra: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.n > 0 and self.median is not None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fmt_time(seconds: float | None) -> str:
    """Seconds as a short human figure (``4.2 ms``, ``1.68 s``)."""
    if seconds is None:
        return "–"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.3g} ms"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def stat(case: Case) -> Stat:
    ok = [r for r in case.runs if r.get("ok")]
    times = [r["t_call_s"] for r in ok if r.get("t_call_s") is not None]
    if not times:  # whole-process cases
        times = [r["wall_s"] for r in ok]
    peaks = [r["peak_rss_mb"] for r in ok if r.get("peak_rss_mb") is not None]
    calls = [r["call_peak_mb"] for r in ok if r.get("call_peak_mb") is not None]
    last = ok[-1] if ok else {}
    extra = {k: last[k] for k in ("frames_walked", "still_lazy", "n_formats", "data_nbytes") if k in last}
    return Stat(
        n=len(ok),
        median=_median(times),
        lo=min(times) if times else None,
        hi=max(times) if times else None,
        wall=_median([r["wall_s"] for r in ok]),
        peak_rss_mb=_median(peaks),
        call_peak_mb=max(calls) if calls else None,
        out_bytes=last.get("out_bytes"),
        result_nbytes=last.get("nbytes"),
        dtype=last.get("dtype"),
        shape=last.get("shape"),
        errors=sorted({str(r.get("error")) for r in case.runs if not r.get("ok")}),
        extra=extra,
    )


class Results:
    """Lookup of case statistics by row and role."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stats = {key: stat(case) for key, case in plan.cases.items()}

    def get(self, row: Row, role: str) -> Stat | None:
        key = row.roles.get(role)
        return self.stats.get(key) if key else None

    def time(self, row: Row, role: str) -> float | None:
        s = self.get(row, role)
        return s.median if s and s.ok else None

    def ratio(self, row: Row, num: str, den: str) -> float | None:
        a, b = self.time(row, num), self.time(row, den)
        return a / b if a is not None and b else None

    def limit_role(self, row: Row) -> str | None:
        """The physical limit a row is compared with (see README)."""
        for role in ("floor", "readinto", "tofile"):
            if role in row.roles:
                return role
        return None
