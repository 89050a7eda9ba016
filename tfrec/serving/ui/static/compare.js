// Side by side: one query through two /search settings (retriever, ranker on/off, MMR lambda),
// the two lists next to each other with the differences marked: items only one side returns,
// and how far an item moved between the sides.

import { clearError, getJSON, jsonLink, showError } from "./api.js";
import { placements } from "./cards.js";
import { fill, formValues, h, num, setFormValues } from "./dom.js";

const SIDES = ["a", "b"];

/** For each side's items: {change: "same" | "up" | "down" | "only", by, otherRank}. */
export function differences(left, right) {
  const rankIn = (items) => new Map(items.map((it, i) => [it.item_id, i + 1]));
  const ranks = [rankIn(left), rankIn(right)];
  return [left, right].map((items, side) =>
    items.map((it, i) => {
      const other = ranks[1 - side].get(it.item_id);
      if (other === undefined) return { change: "only", by: 0, otherRank: null };
      const by = other - (i + 1); // > 0: this side ranks it higher than the other side does
      return { change: by === 0 ? "same" : by > 0 ? "up" : "down", by: Math.abs(by), otherRank: other };
    }),
  );
}

function label(side, diff) {
  const other = side === "a" ? "B" : "A";
  if (diff.change === "only") return `only in ${side.toUpperCase()}`;
  if (diff.change === "same") return `same rank in ${other}`;
  return `${diff.change === "up" ? "▲" : "▼"} ${diff.by} vs ${other} (#${diff.otherRank} there)`;
}

function column(side, title, body, url, diffs) {
  const where = placements(body.items, { ranker: body.ranker, retriever: body.retriever });
  return h(
    "section",
    { class: `compare-side side-${side}`, "aria-label": title },
    h("h2", {}, title, " ", jsonLink(url)),
    h(
      "ol",
      { class: "compare-list", "aria-label": title },
      body.items.map((item, i) =>
        h(
          "li",
          { class: `diff-${diffs[i].change}`, "data-item-id": item.item_id, "data-change": diffs[i].change },
          h("a", { href: `#/product/${encodeURIComponent(item.item_id)}` }, item.title),
          h(
            "span",
            { class: "muted small" },
            ` ${item.item_id} · score ${num(item.score)} · ${where[i].stage}`,
          ),
          h("span", { class: "diff-label" }, label(side, diffs[i])),
        ),
      ),
    ),
  );
}

function sideParams(values, side) {
  return {
    retriever: values[`${side}_retriever`],
    ranker: values[`${side}_ranker`],
    mmr_lambda: values[`${side}_mmr_lambda`],
  };
}

function sideTitle(side, p) {
  const ranker = p.ranker === "false" ? "no ranker" : p.ranker === "true" ? "ranker" : "no ranker served";
  return `${side.toUpperCase()}: ${p.retriever}, ${ranker}, MMR λ ${p.mmr_lambda || "default"}`;
}

export const comparePage = {
  init(root, ctx) {
    this.ctx = ctx;
    this.form = root.querySelector("#compare-form");
    this.error = root.querySelector("#compare-error");
    this.summary = root.querySelector("#compare-summary");
    this.results = root.querySelector("#compare-results");
    this.request = 0;
    const shop = ctx.status?.shop;
    for (const box of this.form.querySelectorAll('input[type="checkbox"]')) {
      box.disabled = !shop?.ranker;
      box.checked = Boolean(shop?.ranker);
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      ctx.go("compare", formValues(this.form));
    });
  },

  async show(params) {
    if (!Object.keys(params).length) {
      fill(this.summary, "Type a query: the same search runs with the left and right settings.");
      return;
    }
    setFormValues(this.form, params);
    const values = formValues(this.form);
    const common = { q: values.q, user_id: values.user_id, k: values.k };
    const sides = SIDES.map((s) => sideParams(values, s));
    const mine = ++this.request;
    this.results.setAttribute("aria-busy", "true");
    try {
      const answers = await Promise.all(sides.map((p) => getJSON("/search", { ...common, ...p })));
      if (mine !== this.request) return;
      clearError(this.error);
      const [left, right] = answers.map((a) => a.body.items);
      const diffs = differences(left, right);
      const both = diffs[0].filter((d) => d.change !== "only").length;
      const moved = diffs[0].filter((d) => d.change === "up" || d.change === "down").length;
      fill(
        this.summary,
        `“${values.q}”: ${both} of ${left.length} items in both lists, ${moved} at another rank, ` +
          `${left.length - both} only in A, ${right.length - both} only in B.`,
      );
      fill(
        this.results,
        SIDES.map((s, i) => column(s, sideTitle(s, sides[i]), answers[i].body, answers[i].url, diffs[i])),
      );
    } catch (err) {
      if (mine !== this.request) return;
      showError(this.error, err);
      fill(this.summary, "No comparison: a request was refused.");
      fill(this.results);
    } finally {
      if (mine === this.request) this.results.removeAttribute("aria-busy");
    }
  },
};
