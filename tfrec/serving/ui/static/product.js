// Product page: the item, its similar items (weighted, and by each dimension alone: semantic,
// behavioural, attribute), complementary items (GET /complementary, the session as the cart)
// and a bundle (GET /bundle).

import { clearError, getJSON, jsonLink, showError } from "./api.js";
import { card, cardList } from "./cards.js";
import { fill, formValues, h, num, price, setFormValues } from "./dom.js";
import { sessionIds } from "./session.js";

const DIMENSIONS = ["semantic", "behavioural", "attribute"];

function section(title, body, url, note = "") {
  return h(
    "section",
    { class: "list-section", "aria-label": title },
    h("h2", {}, title, " ", jsonLink(url)),
    note ? h("p", { class: "muted small" }, note) : null,
    body.items.length ? cardList(body.items, { placed: false, label: title }) : h("p", { class: "muted" }, "none"),
  );
}

export const productPage = {
  init(root, ctx) {
    this.ctx = ctx;
    this.form = root.querySelector("#product-form");
    this.error = root.querySelector("#product-error");
    this.item = root.querySelector("#product-item");
    this.lists = root.querySelector("#product-lists");
    this.request = 0;
    const weights = ctx.status?.shop?.defaults?.similar_weights;
    if (weights) setFormValues(this.form, Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, String(v)])));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { item_id: itemId, ...rest } = formValues(this.form);
      ctx.go("product", rest, itemId || " ");
    });
  },

  async show(params, itemId) {
    setFormValues(this.form, params);
    itemId = (itemId || "").trim();
    this.form.elements.item_id.value = itemId;
    if (!itemId && !Object.keys(params).length) {
      fill(this.item, h("p", { class: "muted" }, "Open a product from any list, or type its id."));
      fill(this.lists);
      return;
    }
    const k = params.k || "6";
    const weights = DIMENSIONS.filter((d) => params[d] !== undefined && params[d] !== "")
      .map((d) => `${d}:${params[d]}`)
      .join(",");
    const cart = sessionIds().filter((id) => id !== itemId);
    const mine = ++this.request;
    this.lists.setAttribute("aria-busy", "true");
    try {
      const [similar, complementary, bundle, ...alone] = await Promise.all([
        getJSON("/similar", { item_id: itemId, weights, k }),
        getJSON("/complementary", { item_id: itemId, cart: cart.join(","), k }),
        getJSON("/bundle", { items: itemId }),
        ...DIMENSIONS.map((d) =>
          getJSON("/similar", {
            item_id: itemId,
            k: 3,
            weights: DIMENSIONS.map((x) => `${x}:${x === d ? 1 : 0}`).join(","),
          }),
        ),
      ]);
      if (mine !== this.request) return;
      clearError(this.error);
      const item = similar.body.item;
      fill(this.item, h("ol", { class: "cards hero", "aria-label": "The product" }, card(item)));
      const w = similar.body.weights;
      const b = bundle.body;
      fill(
        this.lists,
        section(
          "Similar items",
          similar.body,
          similar.url,
          `weights ${DIMENSIONS.map((d) => `${d} ${num(w[d])}`).join(", ")}; each card shows every dimension's score and weighted contribution`,
        ),
        h(
          "section",
          { class: "list-section", "aria-label": "Most similar by each dimension" },
          h("h2", {}, "Most similar by each dimension"),
          h(
            "div",
            { class: "three-columns" },
            DIMENSIONS.map((d, i) =>
              h(
                "div",
                {},
                h("h3", {}, d, " ", jsonLink(alone[i].url)),
                cardList(alone[i].body.items, { placed: false, session: false, label: `Most similar by ${d}` }),
              ),
            ),
          ),
        ),
        section(
          "Complementary items",
          complementary.body,
          complementary.url,
          `source ${complementary.body.source}${cart.length ? `; cart: this item and ${cart.length} session items` : ""}`,
        ),
        section(
          "A bundle",
          b,
          bundle.url,
          `${b.items.length} items, one per category; total price ${price(b.total_price)}, score ${num(b.score)}`,
        ),
      );
    } catch (err) {
      if (mine !== this.request) return;
      showError(this.error, err);
      fill(this.item);
      fill(this.lists);
    } finally {
      if (mine === this.request) this.lists.removeAttribute("aria-busy");
    }
  },
};
