// Search: GET /search with the form's query, user, k, MMR lambda, category, retriever and
// ranker switch (plus the session's items), as product cards with the stage that placed each.

import { clearError, getJSON, jsonLink, showError } from "./api.js";
import { cardList } from "./cards.js";
import { fill, formValues, setFormValues } from "./dom.js";
import { sessionIds } from "./session.js";

/** Defaults of the shop (from /status) on a form's MMR slider, retriever and ranker switch. */
export function applyShopDefaults(form, status, rankerNote = null) {
  const shop = status?.shop;
  if (!shop) return;
  const defaults = { mmr_lambda: String(shop.defaults.mmr_lambda), retriever: shop.defaults.retriever };
  setFormValues(form, defaults);
  for (const box of form.querySelectorAll('input[type="checkbox"][name$="ranker"]')) {
    box.disabled = !shop.ranker;
    box.checked = Boolean(shop.ranker);
  }
  if (rankerNote) {
    fill(
      rankerNote,
      shop.ranker
        ? `${shop.ranker.model} v${shop.ranker.version} re-ranks the top candidates.`
        : "No ranker is served: retrieval and rules place every item.",
    );
  }
}

export function describe(body, extra = []) {
  const parts = [`model ${body.model.name} v${body.model.version}`];
  if ("ranker" in body) parts.push(body.ranker ? `ranker ${body.ranker.model} v${body.ranker.version}` : "no ranker");
  if (body.retriever) parts.push(`retriever ${body.retriever}`);
  if (body.source) parts.push(`source ${body.source}`);
  if (body.filtered?.category) {
    parts.push(`category rule left out ${body.filtered.category} candidates outside “${body.category}”`);
  }
  if (body.unknown_session_items?.length) {
    parts.push(`unknown session items: ${body.unknown_session_items.join(", ")}`);
  }
  return [...extra, ...parts].join(" · ");
}

export const searchPage = {
  init(root, ctx) {
    this.ctx = ctx;
    this.form = root.querySelector("#search-form");
    this.error = root.querySelector("#search-error");
    this.summary = root.querySelector("#search-summary");
    this.results = root.querySelector("#search-results");
    this.request = 0;
    applyShopDefaults(this.form, ctx.status, root.querySelector("#search-ranker-note"));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      ctx.go("search", formValues(this.form));
    });
  },

  async show(params) {
    if (!Object.keys(params).length) {
      fill(this.summary, "Type a query and press Enter.");
      return;
    }
    setFormValues(this.form, params);
    const mine = ++this.request;
    const session = sessionIds();
    this.results.setAttribute("aria-busy", "true");
    try {
      const { body, url } = await getJSON("/search", {
        ...params,
        explain: "true",
        session_items: session.join(","),
      });
      if (mine !== this.request) return;
      clearError(this.error);
      this.ctx.rememberCategories(body.items);
      const head = `${body.items.length} results for “${body.query}”`;
      const withSession = session.length ? [`with ${session.length} session items`] : [];
      fill(this.summary, describe(body, [head, ...withSession]), " ", jsonLink(url));
      fill(
        this.results,
        cardList(body.items, {
          context: { ranker: body.ranker, retriever: body.retriever },
          label: `Results for ${body.query}`,
        }),
      );
    } catch (err) {
      if (mine !== this.request) return;
      showError(this.error, err);
      fill(this.summary, "No results: the request was refused.");
      fill(this.results);
    } finally {
      if (mine === this.request) this.results.removeAttribute("aria-busy");
    }
  },
};
