// Governors: communications restrictions declared by officers wait here for a second person's
// confirmation (docs/lockdown.md); the server refuses the declarer and anyone without
// security.confirm. Also the governor's own inbox and email setting.

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
import { mountInbox } from "./inbox.js";
import { mountNoticeEmail } from "./notice_email.js";

const list = document.getElementById("restrictions");
const result = document.getElementById("restrictions-result");
const error = document.getElementById("restrictions-error");

function card(r) {
  const when = { from: formatDateTime(r.starts_at), to: formatDateTime(r.ends_at) };
  const items = [
    el("p", { class: "card-title", text: t(r.confirmed ? "governor.in_force" : "governor.pending", when) }),
  ];
  if (!r.confirmed) {
    items.push(
      el(
        "ul",
        {},
        el("li", { text: t("restriction.confirm_calls") }),
        el("li", { text: t("restriction.confirm_offered") }),
      ),
    );
    const button = el("button", {
      type: "button",
      class: "button danger",
      text: t("governor.confirm"),
      "aria-label": `${t("governor.confirm")}: ${when.from}–${when.to}`,
    });
    button.addEventListener("click", async () => {
      clearError(error);
      button.disabled = true;
      try {
        const done = await api("POST", `/api/lockdowns/${encodeURIComponent(r.id)}/confirm`);
        result.textContent = t("governor.confirmed", {
          to: formatDateTime(done.ends_at),
          n: (done.affected || []).length,
        });
      } catch (failure) {
        button.disabled = false;
        showError(error, failure);
        return;
      }
      await load();
    });
    items.push(button);
  }
  return el("li", { class: "card", "data-restriction": r.id, "data-confirmed": String(r.confirmed) }, ...items);
}

async function load() {
  const all = await api("GET", "/api/lockdowns");
  const restrictions = all.filter((x) => x.kind === "communications");
  list.replaceChildren(
    ...(restrictions.length ? restrictions.map(card) : [el("li", { text: t("governor.none") })]),
  );
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["governor"]);
  if (account) {
    mountInbox(document.getElementById("inbox"))
      .start()
      .catch((failure) => flash(errorText(failure)));
    mountNoticeEmail().catch((failure) => flash(errorText(failure)));
    show("screen-governor");
    await load();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
