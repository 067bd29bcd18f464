// Shop staff: the pick list per wing (on screen and as a CSV file), marking an order picked
// (ticking lines out of stock, which the server refunds at once) and then delivered; and the
// catalogue: its items, a new item, a new price or level. Prices are typed in pounds
// ("1.25") and read as text into whole pence: never through a float.

import {
  api,
  clearError,
  download,
  el,
  errorText,
  flash,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";
import { pounds } from "./money_words.js";

const form = document.getElementById("picklist-form");
const list = document.getElementById("picklist");
const error = document.getElementById("picklist-error");
const result = document.getElementById("picklist-result");

function query() {
  const wing = form.wing.value.trim();
  return wing ? `?wing=${encodeURIComponent(wing)}` : "";
}

function card(o) {
  const where = t("shopdesk.where", { wing: o.wing || "–", cell: o.cell || "–" });
  const lines = o.lines.map((l) => {
    const id = `oos-${l.id}`;
    const box = el("input", { type: "checkbox", id, value: l.id, disabled: o.status !== "placed" ? "" : null });
    if (l.out_of_stock) box.checked = true;
    return el(
      "li",
      {},
      el("span", { text: t("shop.line", { n: l.quantity, name: l.name }) }),
      " ",
      box,
      el("label", { for: id, text: t("shopdesk.out_of_stock", { name: l.name }) }),
    );
  });
  const children = [
    el("p", { class: "card-title", text: t("shopdesk.order", { receipt: o.receipt, where, total: pounds(o.total_pence) }) }),
    el("p", { class: "hint", text: t(`shopdesk.status_${o.status}`) }),
    el("ul", { class: "plain-list" }, ...lines),
  ];
  const action = el("button", {
    type: "button",
    class: "button primary",
    text: t(o.status === "placed" ? "shopdesk.mark_picked" : "shopdesk.mark_delivered"),
    "aria-label": t(o.status === "placed" ? "shopdesk.mark_picked_named" : "shopdesk.mark_delivered_named", { receipt: o.receipt }),
  });
  action.addEventListener("click", async () => {
    clearError(error);
    action.disabled = true;
    try {
      if (o.status === "placed") {
        const out = [...document.querySelectorAll(`[data-order='${o.id}'] input:checked`)].map((b) => b.value);
        const done = await api("POST", `/api/kiosk/shop/orders/${encodeURIComponent(o.id)}/picked`, { out_of_stock: out });
        result.textContent = done.refunded_pence
          ? t("shopdesk.picked_refunded", { receipt: o.receipt, amount: pounds(done.refunded_pence) })
          : t("shopdesk.picked", { receipt: o.receipt });
      } else {
        await api("POST", `/api/kiosk/shop/orders/${encodeURIComponent(o.id)}/delivered`);
        result.textContent = t("shopdesk.delivered", { receipt: o.receipt });
      }
      await load();
    } catch (failure) {
      action.disabled = false;
      showError(error, failure);
    }
  });
  children.push(action);
  return el("li", { class: "card", "data-order": o.id, "data-status": o.status }, ...children);
}

async function load() {
  const orders = await api("GET", `/api/kiosk/shop/pick-list${query()}`);
  list.replaceChildren(...(orders.length ? orders.map(card) : [el("li", { text: t("shopdesk.none") })]));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError(error);
  try {
    await load();
  } catch (failure) {
    showError(error, failure);
  }
});

document.getElementById("picklist-csv").addEventListener("click", async () => {
  clearError(error);
  try {
    await download(`/api/kiosk/shop/pick-list${query()}${query() ? "&" : "?"}format=csv`, "pick-list.csv");
  } catch (failure) {
    showError(error, failure);
  }
});

// ------------------------------------------------------------- the catalogue

/** "1.25", "£1.25" or "3" -> 125, 125, 300; anything else -> null. */
export function penceFrom(text) {
  const found = /^£?(\d{1,4})(?:\.(\d{2}))?$/.exec(text.trim());
  if (!found) return null;
  const pence = Number(found[1]) * 100 + Number(found[2] || 0);
  return pence >= 1 && pence <= 100000 ? pence : null;
}

function levelWords(level) {
  return t(level ? `shopdesk.level_${level}` : "shopdesk.level_any");
}

async function loadCatalogue() {
  const found = await api("GET", "/api/kiosk/shop/items");
  document.querySelector("#catalogue-table tbody").replaceChildren(
    ...(found.length
      ? found.map((i) =>
          el(
            "tr",
            { "data-item": i.id },
            el("td", { text: i.category }),
            el("td", { text: i.name }),
            el("td", { text: pounds(i.price_pence) }),
            el("td", { text: levelWords(i.min_level) }),
          ),
        )
      : [el("tr", {}, el("td", { colspan: "4", text: t("shopdesk.catalogue_empty") }))]),
  );
  const select = document.getElementById("change-item");
  const chosen = select.value;
  select.replaceChildren(
    ...found.map((i) => el("option", { value: i.id, text: `${i.name} (${i.category}, ${pounds(i.price_pence)})` })),
  );
  if (found.some((i) => i.id === chosen)) select.value = chosen;
}

function said(text) {
  const box = document.getElementById("catalogue-result");
  box.textContent = text;
  box.hidden = false;
}

function setupCatalogue() {
  const itemForm = document.getElementById("item-form");
  const itemError = document.getElementById("item-error");
  itemForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(itemError);
    const pence = penceFrom(itemForm.price.value);
    if (pence === null) {
      showError(itemError, t("shopdesk.bad_price"));
      itemForm.price.focus();
      return;
    }
    try {
      const made = await api("POST", "/api/kiosk/shop/items", {
        category: itemForm.category.value.trim(),
        name: itemForm.name.value.trim(),
        price_pence: pence,
        min_level: itemForm.level.value || null,
      });
      itemForm.reset();
      said(t("shopdesk.added", { name: made.name, price: pounds(made.price_pence) }));
      await loadCatalogue();
    } catch (failure) {
      showError(itemError, failure);
    }
  });
  const changeForm = document.getElementById("change-form");
  const changeError = document.getElementById("change-error");
  changeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(changeError);
    const pence = penceFrom(changeForm.price.value);
    if (pence === null) {
      showError(changeError, t("shopdesk.bad_price"));
      changeForm.price.focus();
      return;
    }
    if (!changeForm.item.value) return;
    try {
      const done = await api("PUT", `/api/kiosk/shop/items/${encodeURIComponent(changeForm.item.value)}`, {
        price_pence: pence,
        min_level: changeForm.level.value || null,
      });
      changeForm.price.value = "";
      said(t("shopdesk.changed", { name: done.name, price: pounds(done.price_pence), level: levelWords(done.min_level) }));
      await loadCatalogue();
    } catch (failure) {
      showError(changeError, failure);
    }
  });
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["department_staff"]);
  if (account) {
    show("screen-shopdesk");
    setupCatalogue();
    await Promise.all([load(), loadCatalogue()]);
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
