// Home feed: GET /recommend for a user (or the anonymous session built by clicking items), with
// each item's reasons, and the user's recent history (GET /history) beside it.

import { clearError, getJSON, jsonLink, showError } from "./api.js";
import { card, cardList } from "./cards.js";
import { fill, formValues, h, setFormValues } from "./dom.js";
import { applyShopDefaults, describe } from "./search.js";
import { clearSession, removeFromSession, sessionIds, sessionItems } from "./session.js";

export const feedPage = {
  init(root, ctx) {
    this.ctx = ctx;
    this.form = root.querySelector("#feed-form");
    this.error = root.querySelector("#feed-error");
    this.summary = root.querySelector("#feed-summary");
    this.results = root.querySelector("#feed-results");
    this.history = root.querySelector("#feed-history");
    this.sessionList = root.querySelector("#session-list");
    this.request = 0;
    applyShopDefaults(this.form, ctx.status);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      ctx.go("feed", { ...formValues(this.form), shown: "1" });
    });
    root.querySelector("#session-clear").addEventListener("click", () => clearSession());
    window.addEventListener("session-changed", () => this.drawSession());
    this.drawSession();
  },

  drawSession() {
    const items = sessionItems();
    fill(
      this.sessionList,
      items.length
        ? items.map((it) =>
            h(
              "li",
              { "data-item-id": it.item_id },
              h("a", { href: `#/product/${encodeURIComponent(it.item_id)}` }, it.title),
              " ",
              h(
                "button",
                {
                  type: "button",
                  class: "link-button",
                  "aria-label": `Remove ${it.title} from the session`,
                  onclick: () => removeFromSession(it.item_id),
                },
                "remove",
              ),
            ),
          )
        : h("li", { class: "muted empty" }, "empty: click “Add to session” on a product card"),
    );
  },

  async show(params) {
    setFormValues(this.form, params);
    if (!params.shown) {
      fill(this.summary, "Pick a user (or build a session) and press “Show the feed”.");
      return;
    }
    const { shown, ...query } = params;
    const mine = ++this.request;
    this.results.setAttribute("aria-busy", "true");
    const userId = query.user_id || "";
    try {
      const [feed, history] = await Promise.all([
        getJSON("/recommend", { ...query, explain: "true", session_items: sessionIds().join(",") }),
        userId ? getJSON("/history", { user_id: userId, k: 10 }) : Promise.resolve(null),
      ]);
      if (mine !== this.request) return;
      clearError(this.error);
      const body = feed.body;
      this.ctx.rememberCategories(body.items);
      const who = userId ? `user ${userId}${body.user_known ? "" : " (unknown: served as a visitor)"}` : "anonymous visitor";
      fill(this.summary, describe(body, [`${body.items.length} items for ${who}`]), " ", jsonLink(feed.url));
      fill(
        this.results,
        cardList(body.items, {
          context: { ranker: body.ranker, source: body.source },
          label: `Feed for ${who}`,
        }),
      );
      this.drawHistory(userId, history?.body);
    } catch (err) {
      if (mine !== this.request) return;
      showError(this.error, err);
      fill(this.summary, "No feed: the request was refused.");
      fill(this.results);
    } finally {
      if (mine === this.request) this.results.removeAttribute("aria-busy");
    }
  },

  drawHistory(userId, body) {
    if (!userId) {
      fill(this.history, h("p", { class: "muted" }, "An anonymous visitor has no history: the session stands in for it."));
      return;
    }
    if (!body.items.length) {
      fill(this.history, h("p", { class: "muted" }, `No history for ${userId}.`));
      return;
    }
    fill(
      this.history,
      h("p", { class: "muted small" }, `Most recent first (${body.items.length})`),
      h(
        "ol",
        { class: "cards compact", "aria-label": `Recent history of ${userId}` },
        body.items.map((item) => card(item, { session: false })),
      ),
    );
  },
};
