// The prisoner's Shop: the catalogue as it applies to them, a basket, placing an order with a
// receipt at once, and their orders. A basket keeps one Idempotency-Key until its order is
// placed, so a double tap or a retry after a lost answer is still one order.

import { api, el, formatDateTime, t } from "./common.js";
import { pounds } from "./money_words.js";

const basket = new Map();
let items = new Map();
let key = null;
let wired = false;

function newKey() {
  return `b-${crypto.randomUUID()}`;
}

function refusal(failure) {
  const reason = failure.body && failure.body.reason;
  if (reason && Object.prototype.hasOwnProperty.call(REASONS, reason)) return t(REASONS[reason]);
  if (failure.code === "lockdown") return t("shop.refused_lockdown");
  return t("error.generic");
}

const REASONS = {
  not_enough_money: "shop.refused_money",
  over_limit: "shop.refused_limit",
  after_cutoff: "shop.refused_cutoff",
  restricted: "shop.refused_unavailable",
  level: "shop.refused_unavailable",
  bad_quantity: "shop.refused_quantity",
};

function renderBasket() {
  const list = document.getElementById("basket");
  let total = 0;
  const rows = [];
  for (const [id, count] of basket) {
    const item = items.get(id);
    if (!item) continue;
    total += item.price_pence * count;
    const remove = el("button", {
      type: "button",
      class: "button secondary",
      text: t("shop.remove"),
      "aria-label": t("shop.remove_named", { name: item.name }),
    });
    remove.addEventListener("click", () => {
      basket.delete(id);
      renderBasket();
    });
    rows.push(el("li", { "data-item": id }, el("span", { text: t("shop.basket_line", { n: count, name: item.name, price: pounds(item.price_pence * count) }) }), " ", remove));
  }
  list.replaceChildren(...(rows.length ? rows : [el("li", { text: t("shop.basket_empty") })]));
  document.getElementById("basket-total").textContent = t("shop.total", { total: pounds(total) });
  document.getElementById("shop-place").disabled = rows.length === 0;
}

function itemCard(item) {
  const children = [el("p", { class: "card-title", text: `${item.name} — ${pounds(item.price_pence)}` })];
  if (item.unavailable) {
    children.push(el("p", { class: "hint", text: t(item.unavailable === "level" ? "shop.needs_level" : "shop.not_for_you", { level: t(`level.${item.min_level}`) }) }));
  } else {
    const add = el("button", {
      type: "button",
      class: "button secondary",
      text: t("shop.add"),
      "aria-label": t("shop.add_named", { name: item.name }),
    });
    add.addEventListener("click", () => {
      if (!key) key = newKey();
      basket.set(item.id, Math.min((basket.get(item.id) || 0) + 1, 20));
      renderBasket();
    });
    children.push(add);
  }
  return el("li", { class: "card", "data-item": item.id }, ...children);
}

function orderCard(o) {
  const lines = o.lines.map((l) =>
    el("li", { text: l.out_of_stock ? t("shop.line_refunded", { n: l.quantity, name: l.name }) : t("shop.line", { n: l.quantity, name: l.name }) }),
  );
  const children = [
    el("p", { class: "card-title", text: t(`shop.status_${o.status}`, { receipt: o.receipt }) }),
    el("p", { class: "hint", text: t("shop.order_meta", { when: formatDateTime(o.placed_at), total: pounds(o.total_pence) }) }),
    el("ul", { class: "plain-list" }, ...lines),
  ];
  if (o.refunded_pence) children.push(el("p", { text: t("shop.refunded", { amount: pounds(o.refunded_pence) }) }));
  return el("li", { class: "card", "data-order": o.id, "data-status": o.status }, ...children);
}

async function load() {
  const [shop, orders, status] = await Promise.all([
    api("GET", "/api/kiosk/shop"),
    api("GET", "/api/kiosk/shop/orders"),
    api("GET", "/api/lockdown-status"),
  ]);
  // In a lockdown the screen says so at once; the server still decides each order, so the
  // moment it lifts an order goes through without reloading.
  const lockedDown = Boolean(status.lockdown && (status.lockdown.closed || []).includes("shop"));
  items = new Map(shop.items.map((i) => [i.id, i]));
  document.getElementById("shop-summary").textContent = t("shop.summary", {
    spends: pounds(shop.spends_pence),
    left: pounds(Math.max(shop.limit_pence - shop.spent_pence, 0)),
    limit: pounds(shop.limit_pence),
    level: t(`level.${shop.level}`),
  });
  const closed = document.getElementById("shop-closed");
  if (lockedDown) closed.textContent = t("shop.refused_lockdown");
  else closed.textContent = shop.open ? t("shop.closes", { when: formatDateTime(shop.cutoff) }) : t("shop.closed");
  closed.dataset.lockdown = String(lockedDown);
  closed.hidden = false;
  const byCategory = new Map();
  for (const item of shop.items) {
    if (!byCategory.has(item.category)) byCategory.set(item.category, []);
    byCategory.get(item.category).push(item);
  }
  document.getElementById("shop-items").replaceChildren(
    ...[...byCategory].map(([category, list]) => el("section", { class: "shop-category" }, el("h3", { text: category }), el("ul", { class: "cards" }, ...list.map(itemCard)))),
  );
  document.getElementById("shop-orders").replaceChildren(
    ...(orders.length ? orders.map(orderCard) : [el("li", { text: t("shop.no_orders") })]),
  );
  renderBasket();
  if (!wired) {
    wired = true;
    document.getElementById("shop-place").addEventListener("click", place);
  }
}

async function place() {
  const button = document.getElementById("shop-place");
  const error = document.getElementById("shop-error");
  const receipt = document.getElementById("shop-receipt");
  error.hidden = true;
  receipt.hidden = true;
  button.disabled = true;
  if (!key) key = newKey();
  try {
    const lines = [...basket].map(([item_id, quantity]) => ({ item_id, quantity }));
    const order = await api("POST", "/api/kiosk/shop/orders", { lines }, { headers: { "Idempotency-Key": key } });
    basket.clear();
    key = null;
    receipt.textContent = t("shop.placed", { receipt: order.receipt, total: pounds(order.total_pence) });
    receipt.hidden = false;
    await load();
  } catch (failure) {
    error.textContent = refusal(failure);
    error.hidden = false;
    button.disabled = basket.size === 0;
  }
}

export const shop = { load };
