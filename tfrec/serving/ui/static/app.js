// The page's start: load /status once (served versions, shop defaults, users to try), then
// route by the URL's hash: #/search?q=..., #/feed?user_id=..., #/product/<id>, #/compare?q=...,
// #/status. Each page keeps its request in the hash, so a view can be bookmarked or shared.

import { getJSON } from "./api.js";
import { fill, h, linkRangeOutputs } from "./dom.js";
import { comparePage } from "./compare.js";
import { feedPage } from "./feed.js";
import { productPage } from "./product.js";
import { searchPage } from "./search.js";
import { statusPage } from "./status.js";

const PAGES = {
  search: searchPage,
  feed: feedPage,
  product: productPage,
  compare: comparePage,
  status: statusPage,
};
const TITLES = { search: "Search", feed: "Home feed", product: "Product", compare: "Side by side", status: "Status" };

/** {page, rest, params} of a hash like #/product/P1?k=5. */
export function parseHash(hash) {
  const [path, query = ""] = hash.replace(/^#\/?/, "").split("?");
  const [page, ...rest] = path.split("/");
  return {
    page: page in PAGES ? page : "search",
    rest: rest.map(decodeURIComponent).join("/"),
    params: Object.fromEntries(new URLSearchParams(query)),
  };
}

/** Navigate to a page with parameters (adds a history entry; the router runs the request). */
export function go(page, params = {}, rest = "") {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined));
  const path = rest ? `${page}/${encodeURIComponent(rest)}` : page;
  const hash = `#/${path}${query.toString() ? `?${query}` : ""}`;
  if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else window.location.hash = hash;
}

const context = { status: null, go };

function rememberCategories(items) {
  const list = document.getElementById("known-categories");
  const known = new Set([...list.options].map((o) => o.value));
  for (const item of items || []) {
    const parts = String(item.category || "").split(" > ");
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join(" > ");
      if (prefix && !known.has(prefix)) {
        known.add(prefix);
        list.append(h("option", { value: prefix }));
      }
    }
  }
}
context.rememberCategories = rememberCategories;

async function loadStatus() {
  const served = document.getElementById("served");
  try {
    const { body } = await getJSON("/status");
    context.status = body;
    const shop = body.shop;
    if (shop) {
      const ranker = shop.ranker ? `, ranker ${shop.ranker.model} v${shop.ranker.version}` : ", no ranker";
      fill(served, `Serving ${shop.model.name} v${shop.model.version} (${shop.num_items} items${ranker})`);
      fill(document.getElementById("known-users"), shop.sample_users.map((u) => h("option", { value: u })));
    } else {
      fill(served, "No shop model is being served yet.");
    }
  } catch (err) {
    fill(served, `Status unavailable: ${err.message}`);
  }
}

let current = null;

async function route({ focus = true } = {}) {
  const { page, rest, params } = parseHash(window.location.hash);
  for (const name of Object.keys(PAGES)) {
    document.getElementById(`page-${name}`).hidden = name !== page;
  }
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${TITLES[page]} · tfrec`;
  if (focus && current !== null) document.getElementById(`h-${page}`).focus();
  current = page;
  await PAGES[page].show(params, rest);
}

async function start() {
  linkRangeOutputs(document);
  await loadStatus();
  for (const [name, page] of Object.entries(PAGES)) {
    page.init(document.getElementById(`page-${name}`), context);
  }
  window.addEventListener("hashchange", () => route());
  await route({ focus: false });
  document.body.dataset.ready = "true"; // for tests and scripts: the first view is drawn
}

start();
