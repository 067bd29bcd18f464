// Healthcare: make a shop item unavailable to one prisoner, or available again. No reason is
// asked or kept: the prisoner reads only "Not available to you", and shop staff see nothing.

import {
  api,
  clearError,
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

const form = document.getElementById("restrict-form");
const error = document.getElementById("restrict-error");
const result = document.getElementById("restrict-result");
const list = document.getElementById("restrict-items");
let shown = null;

function card(item) {
  const restricted = item.unavailable === "restricted";
  const button = el("button", {
    type: "button",
    class: restricted ? "button secondary" : "button primary",
    text: t(restricted ? "restrict.allow" : "restrict.stop"),
    "aria-label": t(restricted ? "restrict.allow_named" : "restrict.stop_named", { name: item.name }),
  });
  button.addEventListener("click", async () => {
    clearError(error);
    button.disabled = true;
    try {
      await api("POST", "/api/kiosk/shop/restrictions", {
        prisoner_id: shown.prisoner_id,
        item_id: item.id,
        restricted: !restricted,
      });
      result.textContent = t(restricted ? "restrict.allowed" : "restrict.stopped", { name: item.name });
      result.hidden = false;
      await lookUp(shown.number);
    } catch (failure) {
      button.disabled = false;
      showError(error, failure);
    }
  });
  return el(
    "li",
    { class: "card", "data-item": item.id, "data-restricted": String(restricted) },
    el("p", { class: "card-title", text: `${item.name} — ${pounds(item.price_pence)}` }),
    el("p", { class: "hint", text: t(restricted ? "restrict.is_stopped" : "restrict.is_allowed") }),
    button,
  );
}

async function lookUp(number) {
  const found = await api("GET", `/api/kiosk/shop/restrictions?prison_number=${encodeURIComponent(number)}`);
  shown = { ...found, number };
  list.replaceChildren(...(found.items.length ? found.items.map(card) : [el("li", { text: t("restrict.no_items") })]));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError(error);
  result.hidden = true;
  const number = form.prison_number.value.trim().toUpperCase();
  if (!number) {
    showError(error, t("restrict.need_number"));
    return;
  }
  try {
    await lookUp(number);
  } catch (failure) {
    list.replaceChildren();
    shown = null;
    showError(error, failure);
  }
});

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["clinician", "healthcare_admin"]);
  if (account) show("screen-restrict");
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
