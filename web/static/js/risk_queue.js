// The duty healthcare queue: prisoners who gave a risk answer, oldest first, until a clinician
// acknowledges each. Unacknowledged after 15 minutes, the server's job tells the healthcare
// managers (their inbox, and email for those who opted in). Refreshed every 20 seconds.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatDateTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const list = document.getElementById("alerts");
const result = document.getElementById("risk-result");
const error = document.getElementById("risk-error");

function card(alert) {
  const title = t("risk.raised", { name: alert.prisoner_name, time: formatDateTime(alert.created_at) });
  const items = [
    el("p", { class: "card-title", text: title }),
    el("p", {}, el("a", { href: `/scores#${encodeURIComponent(alert.prisoner_id)}`, text: t("scores.see") })),
  ];
  if (alert.escalated_at) {
    items.push(el("p", { text: t("risk.escalated", { time: formatDateTime(alert.escalated_at) }) }));
  }
  if (alert.acknowledged_at) {
    items.push(el("p", { text: t("risk.acknowledged", { time: formatDateTime(alert.acknowledged_at) }) }));
  } else {
    items.push(el("p", { class: "status-waiting", text: t("risk.waiting") }));
    const button = el("button", {
      type: "button",
      class: "button primary",
      text: t("risk.acknowledge"),
      "aria-label": `${t("risk.acknowledge")}: ${title}`,
    });
    button.addEventListener("click", async () => {
      clearError(error);
      button.disabled = true;
      try {
        await api("POST", `/api/risk-alerts/${encodeURIComponent(alert.id)}/acknowledge`);
        result.textContent = t("risk.done");
      } catch (failure) {
        button.disabled = false;
        showError(error, failure);
      }
      await load();
    });
    items.push(button);
  }
  return el(
    "li",
    { class: "card", "data-alert": alert.id, "data-acknowledged": String(Boolean(alert.acknowledged_at)) },
    ...items,
  );
}

async function load() {
  const data = await api("GET", "/api/risk-alerts");
  list.replaceChildren(...(data.alerts.length ? data.alerts.map(card) : [el("li", { text: t("risk.none") })]));
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["clinician", "manager"]);
  if (account) {
    show("screen-risk");
    await load();
    setInterval(() => load().catch((failure) => flash(errorText(failure))), 20000);
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
