// Product cards and "which stage placed this item": what the search, feed, product and
// side-by-side pages show for every item an endpoint returns.

import { h, num, price } from "./dom.js";
import { addToSession } from "./session.js";

let cardCount = 0;

/**
 * The stage that placed each item at its rank, read from the answer itself:
 * - rules: the item is not where its score would put it, so a rule moved it (MMR diversity,
 *   `mmr_lambda` < 1, re-orders after retrieval and ranking; `score` is what they ordered by);
 * - ranker: a ranker was served and used (the answer names it): its serving score set the order;
 * - retrieval: the retriever's score set the order (dense, hybrid fusion, or popularity).
 * A category filter (also a rule) removes items without re-ordering; the page says how many.
 */
export function placements(items, { ranker = null, retriever = "dense", source = null } = {}) {
  const order = items.map((_, i) => i);
  order.sort((a, b) => items[b].score - items[a].score || a - b);
  const scoreRank = new Array(items.length);
  order.forEach((i, r) => {
    scoreRank[i] = r + 1;
  });
  return items.map((item, i) => {
    if (scoreRank[i] !== i + 1) {
      return {
        stage: "rules",
        detail: `moved by the MMR diversity rule: #${scoreRank[i]} by score, shown #${i + 1}`,
      };
    }
    if (ranker) {
      return {
        stage: "ranker",
        detail: `ordered by ${ranker.model} v${ranker.version}: serving score ${num(item.score)} (p(click) ${num(item.p_click)}, retrieval ${num(item.retrieval_score)})`,
      };
    }
    const by =
      source === "popularity"
        ? "popularity (interactions)"
        : retriever === "hybrid"
          ? "hybrid retrieval (BM25 and dense rank fusion)"
          : "dense retrieval (two-tower dot product)";
    return { stage: "retrieval", detail: `ordered by ${by}: score ${num(item.score)}` };
  });
}

function explanationParts(item) {
  const parts = [];
  const ex = item.explanation;
  if (ex && Array.isArray(ex.reasons)) parts.push(...ex.reasons);
  if (item.contributions) {
    const dims = Object.entries(item.contributions).map(
      ([dim, c]) => `${dim} ${num(item.scores?.[dim])} → ${num(c)}`,
    );
    parts.push(`similarity by dimension (score → weighted): ${dims.join(", ")}`);
  }
  if (item.evidence) {
    const counts = [];
    if (item.copurchase_count) counts.push(`bought together ${item.copurchase_count}×`);
    if (item.coview_count) counts.push(`viewed together ${item.coview_count}×`);
    const withItem = item.goes_with ? ` with ${item.goes_with}` : "";
    parts.push(`evidence: ${item.evidence}${withItem}${counts.length ? ` (${counts.join(", ")})` : ""}`);
    if (item.same_category) parts.push("same category: pushed down as a possible substitute");
  }
  return parts;
}

/**
 * One product card (an <li>). opts: placement ({stage, detail}), session (show "Add to
 * session"), extra (a node appended at the end).
 */
export function card(item, { placement = null, session = true, extra = null } = {}) {
  const id = `card-${++cardCount}`;
  const scores = [["score", item.score]];
  for (const key of ["retrieval_score", "p_click", "p_purchase"]) {
    if (item[key] !== undefined) scores.push([key.replace("_", " "), item[key]]);
  }
  const reasons = explanationParts(item);
  return h(
    "li",
    { class: "card", "data-item-id": item.item_id, "data-stage": placement?.stage },
    h(
      "article",
      { "aria-labelledby": id },
      h("p", { class: "rank", "aria-hidden": "true" }, item.rank ? `#${item.rank}` : ""),
      h("h3", { id }, h("a", { href: `#/product/${encodeURIComponent(item.item_id)}` }, item.title)),
      h(
        "p",
        { class: "meta" },
        h("span", { class: "category" }, item.category || "no category"),
        h("span", { class: "brand" }, item.brand || "no brand"),
        h("span", { class: "price" }, price(item.price)),
        h("span", { class: "item-id" }, item.item_id),
      ),
      item.score === undefined
        ? null
        : h("dl", { class: "scores" }, scores.map(([k, v]) => [h("dt", {}, k), h("dd", {}, num(v))])),
      placement
        ? h(
            "p",
            { class: `stage stage-${placement.stage}` },
            h("span", { class: "badge" }, placement.stage),
            " ",
            h("span", { class: "stage-detail" }, placement.detail),
          )
        : null,
      reasons.length
        ? h("ul", { class: "reasons", "aria-label": "Why this item" }, reasons.map((r) => h("li", {}, r)))
        : null,
      session
        ? h(
            "button",
            {
              type: "button",
              class: "add-session",
              "aria-label": `Add ${item.title} to the session`,
              onclick: (e) => {
                addToSession(item);
                e.currentTarget.textContent = "In session ✓";
              },
            },
            "Add to session",
          )
        : null,
      extra,
    ),
  );
}

/** An <ol> of cards; `context` is passed to placements() unless placed is false. */
export function cardList(items, { context = {}, placed = true, session = true, label = "Results" } = {}) {
  const where = placed ? placements(items, context) : [];
  return h(
    "ol",
    { class: "cards", "aria-label": label },
    items.map((item, i) => card(item, { placement: where[i] || null, session })),
  );
}
