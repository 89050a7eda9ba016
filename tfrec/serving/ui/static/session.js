// The anonymous session the page builds as you click "Add to session" on product cards: item
// ids in click order (oldest first), kept in the tab's sessionStorage. It is what /recommend
// and /search receive as session_items, and the cart of /complementary.

const KEY = "tfrec-ui-session";
const LIMIT = 20;

function read() {
  try {
    const items = JSON.parse(window.sessionStorage.getItem(KEY) || "[]");
    return Array.isArray(items) ? items.filter((it) => it && typeof it.item_id === "string") : [];
  } catch {
    return [];
  }
}

function write(items) {
  window.sessionStorage.setItem(KEY, JSON.stringify(items.slice(-LIMIT)));
  window.dispatchEvent(new CustomEvent("session-changed"));
}

/** [{item_id, title}] oldest first. */
export function sessionItems() {
  return read();
}

export function sessionIds() {
  return read().map((it) => it.item_id);
}

export function addToSession(item) {
  const items = read().filter((it) => it.item_id !== item.item_id);
  items.push({ item_id: item.item_id, title: item.title || item.item_id });
  write(items);
}

export function removeFromSession(itemId) {
  write(read().filter((it) => it.item_id !== itemId));
}

export function clearSession() {
  write([]);
}
