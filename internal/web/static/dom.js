// dom.js: the only way the page builds elements. Text always goes in
// through textContent (never innerHTML), so host data containing markup is
// shown as text.

/** $ returns the element with the id. */
export const $ = (id) => document.getElementById(id);

/** el creates an element with text content and a class. */
export function el(tag, text = "", cls = "") {
  const e = document.createElement(tag);
  if (text !== "") e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** button creates a type=button button with a click handler. */
export function button(text, onclick, cls = "", title = "") {
  const b = el("button", text, cls);
  b.type = "button";
  if (title) b.title = title;
  b.addEventListener("click", onclick);
  return b;
}

/** fmtBytes formats a byte count for people. */
export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}
