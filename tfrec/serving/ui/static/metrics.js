// Prometheus text format (what /metrics sends) -> request counts, rates and latency percentiles
// per endpoint. Percentiles interpolate inside the histogram buckets as Prometheus'
// histogram_quantile() does, so they are estimates within a bucket's bounds.

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** [{name, labels: {..}, value}] of every sample line. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line.trim());
    if (!m) continue;
    const labels = {};
    for (const [, key, value] of (m[2] || "").matchAll(LABEL)) labels[key] = value;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The q-quantile (0..1) of a cumulative histogram [[upper bound, count], ...]. */
export function histogramQuantile(q, buckets) {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  if (!sorted.length) return NaN;
  const total = sorted[sorted.length - 1][1];
  if (!total) return NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound; // in the +Inf bucket: its lower bound
      const inBucket = count - prevCount;
      return inBucket ? prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket : bound;
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/**
 * Per endpoint: requests, errors (status >= 400), p50/p95/p99 seconds, and the request rate
 * since `previous` (an earlier result of this function, with its time).
 */
export function endpointStats(samples, now = Date.now(), previous = null) {
  const stats = {};
  const get = (endpoint) => {
    stats[endpoint] ??= { endpoint, requests: 0, errors: 0, buckets: [], rate: null };
    return stats[endpoint];
  };
  for (const s of samples) {
    if (s.name === "tfrec_requests_total") {
      const e = get(s.labels.endpoint);
      e.requests += s.value;
      if (Number(s.labels.code) >= 400) e.errors += s.value;
    } else if (s.name === "tfrec_request_seconds_bucket") {
      const bound = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      get(s.labels.endpoint).buckets.push([bound, s.value]);
    }
  }
  const seconds = previous ? (now - previous.time) / 1000 : 0;
  for (const e of Object.values(stats)) {
    e.p50 = histogramQuantile(0.5, e.buckets);
    e.p95 = histogramQuantile(0.95, e.buckets);
    e.p99 = histogramQuantile(0.99, e.buckets);
    const before = previous?.stats[e.endpoint];
    if (before && seconds > 0) e.rate = Math.max(0, e.requests - before.requests) / seconds;
  }
  return { time: now, stats };
}

/** Gauges and counters without labels, and the served versions (tfrec_model_version). */
export function serverFigures(samples) {
  const out = { versions: {} };
  for (const s of samples) {
    if (s.name === "tfrec_model_version") out.versions[s.labels.model] = s.value;
    else if (!Object.keys(s.labels).length) out[s.name] = s.value;
  }
  return out;
}
