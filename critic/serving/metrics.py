"""The server's counters, written in Prometheus' text exposition format (``GET /metrics``).

>>> m = Metrics()
>>> m.request("/v1/score", 200, 0.012)
>>> m.batch(8)
>>> text = m.render(in_flight=0, cache_hits=3)
>>> 'critic_requests_total{route="/v1/score",status="200"} 1' in text
True
>>> 'critic_batch_size_bucket{le="8"} 1' in text
True
"""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, b in enumerate(self.buckets):
            if value <= b:
                self.counts[i] += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{_num(b)}"}} {c}' for b, c in zip(self.buckets, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}')
        tail = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{tail} {self.sum:.6f}", f"{name}_count{tail} {self.total}"]
        return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class Metrics:
    """Thread-safe counters; :meth:`render` writes them with the gauges the caller reads at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, _Histogram] = {}
        self.batches = _Histogram(BATCH_BUCKETS)
        self.judgments = 0
        self.batch_failures = 0

    def request(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            self.latency.setdefault(route, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, size: int, failed: bool = False) -> None:
        with self._lock:
            self.batches.observe(size)
            self.judgments += size
            self.batch_failures += failed

    def render(self, *, in_flight: int, cache_hits: int | None, queued: int = 0) -> str:
        with self._lock:
            lines = ["# HELP critic_requests_total HTTP requests by route and status.",
                     "# TYPE critic_requests_total counter"]
            lines += [f'critic_requests_total{{route="{r}",status="{s}"}} {n}'
                      for (r, s), n in sorted(self.requests.items())]
            errors = sum(n for (_, s), n in self.requests.items() if s >= 400)
            lines += ["# HELP critic_errors_total HTTP responses with a 4xx or 5xx status.",
                      "# TYPE critic_errors_total counter", f"critic_errors_total {errors}",
                      "# HELP critic_request_seconds Request latency by route.",
                      "# TYPE critic_request_seconds histogram"]
            for route, h in sorted(self.latency.items()):
                lines += h.lines("critic_request_seconds", f'route="{route}"')
            lines += ["# HELP critic_batch_size Generations per batch sent to the judge.",
                      "# TYPE critic_batch_size histogram", *self.batches.lines("critic_batch_size"),
                      "# HELP critic_batch_failures_total Batches whose judge call raised.",
                      "# TYPE critic_batch_failures_total counter", f"critic_batch_failures_total {self.batch_failures}",
                      "# HELP critic_in_flight Requests being answered.", "# TYPE critic_in_flight gauge",
                      f"critic_in_flight {in_flight}",
                      "# HELP critic_queued Work units waiting for a batch.", "# TYPE critic_queued gauge",
                      f"critic_queued {queued}"]
            if cache_hits is not None:
                lines += ["# HELP critic_cache_hits_total Judgments answered from the judge cache.",
                          "# TYPE critic_cache_hits_total counter", f"critic_cache_hits_total {cache_hits}"]
            return "\n".join(lines) + "\n"
