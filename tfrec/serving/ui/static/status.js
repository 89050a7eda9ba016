// Status: served versions and what they hold (GET /status: index size and parameters, refused
// versions with their errors), the shop defaults, traffic from GET /metrics (requests, rate,
// latency percentiles per endpoint) and the run's last evaluation figures (metrics.json).

import { clearError, getJSON, getText, showError } from "./api.js";
import { fill, h, num } from "./dom.js";
import { endpointStats, parseMetrics, serverFigures } from "./metrics.js";

function table(caption, head, rows, { hideCaption = false } = {}) {
  return h(
    "table",
    {},
    h("caption", { class: hideCaption ? "visually-hidden" : null }, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => (i ? h("td", {}, c) : h("th", { scope: "row" }, c)))))),
  );
}

function indexText(index) {
  if (!index) return "–";
  return Object.entries(index)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k} ${typeof v === "number" ? num(v) : v}`)
    .join(", ");
}

function modelsTable(models) {
  const rows = [];
  for (const m of models) {
    for (const v of m.versions) {
      const served = String(m.served) === v.version;
      rows.push([
        `${m.name} v${v.version}`,
        served ? "serving" : `refused: ${v.status.error_message}`,
        served ? String(m.info?.num_items ?? "–") : "–",
        served ? String(m.info?.embedding_dim ?? "–") : "–",
        served ? indexText(m.info?.index) : "–",
        served ? (m.signatures || []).join(", ") : "–",
        served ? m.info?.created || "–" : "–",
      ]);
    }
  }
  return table("Versions of every model", ["model", "state", "items", "dim", "index", "signatures", "exported"], rows);
}

function shopBlock(shop) {
  if (!shop) return h("p", { class: "muted" }, "No model with a query encoder is served.");
  const d = shop.defaults;
  const rows = [
    ["shop model", `${shop.model.name} v${shop.model.version}`],
    ["ranker", shop.ranker ? `${shop.ranker.model} v${shop.ranker.version}` : "none served"],
    ["items in the shop context", String(shop.num_items)],
    ["users with a history", String(shop.num_users)],
    ["defaults", `MMR λ ${d.mmr_lambda}, retriever ${d.retriever} (hybrid weight ${d.hybrid_weight}), bundle size ${d.bundle_size}`],
    ["similar weights", Object.entries(d.similar_weights).map(([k, v]) => `${k} ${v}`).join(", ")],
  ];
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function seconds(value) {
  return Number.isFinite(value) ? `${num(value * 1000)} ms` : "–";
}

function trafficTable(result, figures) {
  const rows = Object.values(result.stats)
    .sort((a, b) => b.requests - a.requests)
    .map((e) => [
      e.endpoint,
      String(e.requests),
      e.rate === null ? "–" : `${num(e.rate)}/s`,
      String(e.errors),
      seconds(e.p50),
      seconds(e.p95),
      seconds(e.p99),
    ]);
  return [
    table("Requests by endpoint since the server started", ["endpoint", "requests", "rate", "errors", "p50", "p95", "p99"], rows),
    h(
      "p",
      { class: "muted small" },
      `version swaps ${figures.tfrec_version_swaps_total ?? 0}, versions refused now ${figures.tfrec_versions_refused ?? 0}; percentiles interpolated in the latency histogram's buckets`,
    ),
  ];
}

/** Tables of an evaluation: every object whose values are all {metric: number} objects. */
export function evaluationTables(figures, path = [], out = []) {
  if (!figures || typeof figures !== "object" || Array.isArray(figures)) return out;
  const values = Object.values(figures);
  const isTable =
    values.length > 0 &&
    values.every(
      (v) => v && typeof v === "object" && !Array.isArray(v) && Object.values(v).some((x) => typeof x === "number"),
    ) &&
    values.every((v) => Object.values(v).every((x) => typeof x === "number" || x === null));
  if (isTable) {
    out.push({ title: path.join(" › "), rows: figures });
    return out;
  }
  for (const [key, value] of Object.entries(figures)) evaluationTables(value, [...path, key], out);
  return out;
}

function evaluationBlock(evaluation) {
  if (!evaluation) return [h("p", { class: "muted" }, "The run has no metrics.json yet (run the evaluate stage).")];
  if (evaluation.error) return [h("p", {}, `metrics.json ${evaluation.error}`)];
  const tables = evaluationTables(evaluation.figures);
  return [
    h("p", { class: "muted small" }, `metrics.json written ${evaluation.written}; ${tables.length} tables`),
    ...tables.map((t, i) => {
      const metrics = [...new Set(Object.values(t.rows).flatMap((r) => Object.keys(r)))];
      return h(
        "details",
        { open: i < 2 },
        h("summary", {}, t.title),
        h(
          "div",
          { class: "table-wrap" },
          table(
            t.title,
            ["", ...metrics],
            Object.entries(t.rows).map(([name, r]) => [name, ...metrics.map((m) => num(r[m]))]),
            { hideCaption: true }, // the <summary> above shows it
          ),
        ),
      );
    }),
  ];
}

export const statusPage = {
  init(root) {
    this.root = root;
    this.error = root.querySelector("#status-error");
    this.previous = null;
    this.timer = null;
    root.querySelector("#status-refresh").addEventListener("click", () => this.refresh());
  },

  async show() {
    // every 5 s while this page is on screen, so the rate column has a recent interval
    this.timer ??= window.setInterval(() => {
      if (!this.root.hidden && document.visibilityState === "visible") this.refresh();
    }, 5000);
    await this.refresh();
  },

  async refresh() {
    const r = this.root;
    try {
      const [{ body }, text] = await Promise.all([getJSON("/status"), getText("/metrics")]);
      clearError(this.error);
      const samples = parseMetrics(text);
      const result = endpointStats(samples, Date.now(), this.previous);
      this.previous = result;
      fill(r.querySelector("#status-models"), modelsTable(body.models));
      fill(r.querySelector("#status-shop"), shopBlock(body.shop));
      fill(r.querySelector("#status-traffic"), trafficTable(result, serverFigures(samples)));
      fill(r.querySelector("#status-evaluation"), evaluationBlock(body.evaluation));
      fill(r.querySelector("#status-updated"), `updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      showError(this.error, err);
    }
  },
};
