"""The REST server's request counters and latency histograms, and the served versions, in
Prometheus' text exposition format (`GET /metrics`)."""

from __future__ import annotations

import threading

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counters and latency histograms in Prometheus' text exposition format.

    Example:
        >>> m = Metrics()
        >>> m.observe("/search", 200, 0.02)
        >>> m.requests
        {('/search', 200): 1}
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, list[float]] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] = self.requests.get((endpoint, status), 0) + 1
            h = self.latency.setdefault(endpoint, [0.0] * (len(LATENCY_BUCKETS) + 2))
            for i, b in enumerate(LATENCY_BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-2] += 1  # count
            h[-1] += seconds  # sum

    def render(self, manager) -> str:
        lines = [
            "# HELP tfrec_requests_total Requests by endpoint and HTTP status.",
            "# TYPE tfrec_requests_total counter",
        ]
        with self._lock:
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f'tfrec_requests_total{{endpoint="{endpoint}",code="{status}"}} {n}')
            lines += [
                "# HELP tfrec_request_seconds Request latency.",
                "# TYPE tfrec_request_seconds histogram",
            ]
            for endpoint, h in sorted(self.latency.items()):
                for b, n in zip(LATENCY_BUCKETS, h, strict=False):
                    lines.append(
                        f'tfrec_request_seconds_bucket{{endpoint="{endpoint}",le="{b}"}} {n:g}'
                    )
                lines.append(
                    f'tfrec_request_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} {h[-2]:g}'
                )
                lines.append(f'tfrec_request_seconds_count{{endpoint="{endpoint}"}} {h[-2]:g}')
                lines.append(f'tfrec_request_seconds_sum{{endpoint="{endpoint}"}} {h[-1]:.6f}')
        lines += [
            "# HELP tfrec_model_version Served version per model.",
            "# TYPE tfrec_model_version gauge",
        ]
        for name in manager.model_names():
            lines.append(f'tfrec_model_version{{model="{name}"}} {manager.get(name).version}')
        lines += [
            "# HELP tfrec_version_swaps_total Versions swapped in since start.",
            "# TYPE tfrec_version_swaps_total counter",
            f"tfrec_version_swaps_total {manager.swaps}",
            "# HELP tfrec_versions_refused Versions refused (failed to load or warm up).",
            "# TYPE tfrec_versions_refused gauge",
            f"tfrec_versions_refused {manager.refused_count()}",
        ]
        return "\n".join(lines) + "\n"
