// Shop staff: the pick list per wing (on screen and as a CSV file), marking an order picked
// (ticking lines out of stock, which the server refunds at once) and then delivered.

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

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["department_staff"]);
  if (account) {
    show("screen-shopdesk");
    await load();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
