"""Percentiles and the summary every latency row uses (values in seconds, summaries in ms)."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "median": pct(ms, 0.5), "p95": pct(ms, 0.95), "p99": pct(ms, 0.99),
            "max": max(ms) if ms else float("nan")}
