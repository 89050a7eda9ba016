// Small DOM helpers. Everything the server sends is put on the page as text (textContent),
// never as HTML, so a product title cannot inject markup.

/** h("li", {class: "card", "data-item-id": id}, child, "text", ...) -> an Element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function price(value) {
  return value === null || value === undefined ? "price unknown" : value.toFixed(2);
}

/** A score as people read it: 4 significant digits. */
export function num(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs >= 1000 ? value.toFixed(0) : Number(value.toPrecision(4)).toString();
}

/** The values of a form's named controls (checkboxes as "true"/"false", radios: the checked). */
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") out[el.name] = el.checked ? "true" : "false";
    else if (el.type === "radio") {
      if (el.checked) out[el.name] = el.value;
    } else out[el.name] = el.value.trim();
  }
  return out;
}

/** Set a form's named controls from `params` (the inverse of formValues). */
export function setFormValues(form, params) {
  for (const el of form.elements) {
    if (!el.name || !(el.name in params)) continue;
    const value = params[el.name];
    if (el.type === "checkbox") el.checked = value === "true";
    else if (el.type === "radio") el.checked = el.value === value;
    else el.value = value;
    el.dispatchEvent(new Event("input"));
  }
}

/** Keep an <output for=...> showing its range input's value. */
export function linkRangeOutputs(root) {
  for (const out of root.querySelectorAll("output[for]")) {
    const input = root.querySelector(`#${out.htmlFor.value}`);
    if (!input) continue;
    const show = () => {
      out.value = input.value;
    };
    input.addEventListener("input", show);
    show();
  }
}
