// Staff: the application queues of the departments they belong to (the governor also has the
// confidential queue). Each application shows the prisoner, the words as text, the target,
// and a reply box; the server decides who sees what and logs each reading.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatDate,
  formatDateTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const ROLES = ["officer", "department_staff", "governor"];
const list = document.getElementById("sapps-list");
const choose = document.getElementById("sapps-choose");
const select = document.getElementById("sapps-queue");
const result = document.getElementById("sapps-result");
const error = document.getElementById("sapps-error");

function queueName(q) {
  if (q.id === "confidential") return t("sapps.confidential_queue");
  const key = `apps.dept_${q.code}`;
  const word = t(key);
  return word === key ? q.name : word;
}

function card(a) {
  const who = a.prisoner ? `${a.prisoner.name || ""} (${a.prisoner.prison_number})` : "";
  const items = [
    el("p", { class: "card-title", text: t(`sapps.stage_${a.stage}`, { receipt: a.receipt, who }) }),
    el("p", {
      class: a.overdue ? "hint overdue" : "hint",
      text: t(a.overdue ? "sapps.overdue" : "sapps.target", {
        sent: formatDateTime(a.created_at),
        target: formatDate(a.target_at),
      }),
    }),
    el("p", { class: "app-text", text: a.text ?? t("apps.unreadable") }),
  ];
  if (a.status === "answered") {
    items.push(el("p", { class: "reply" }, el("strong", { text: `${t("apps.reply")}: ` }), a.reply ?? ""));
  } else {
    const id = `reply-${a.id}`;
    const area = el("textarea", { id, name: "reply", rows: "3", maxlength: "2000", required: true });
    const problem = el("p", { class: "error", role: "alert", hidden: true });
    const form = el(
      "form",
      { class: "form", novalidate: true, "aria-label": t("sapps.reply_to", { receipt: a.receipt }) },
      el("div", { class: "field" }, el("label", { for: id, text: t("sapps.reply_label") }), area),
      problem,
      el("button", { type: "submit", class: "button primary", text: t("sapps.send_reply") }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearError(problem);
      const reply = area.value.trim();
      if (!reply) {
        showError(problem, t("sapps.need_reply"));
        area.focus();
        return;
      }
      if (/<\s*[/!?]?\s*[a-zA-Z]|<!--/.test(reply)) {
        showError(problem, t("apps.no_html"));
        area.focus();
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await api("POST", `/api/kiosk/staff/applications/${encodeURIComponent(a.id)}/answer`, { reply });
      } catch (failure) {
        button.disabled = false;
        showError(problem, failure);
        return;
      }
      result.textContent = t("sapps.replied", { receipt: a.receipt });
      await load();
    });
    items.push(form);
  }
  return el(
    "li",
    { class: "card application", "data-receipt": a.receipt, "data-status": a.status },
    ...items,
  );
}

async function load() {
  clearError(error);
  if (!select.value) return;
  const answered = document.getElementById("sapps-answered").checked ? "?answered=1" : "";
  try {
    const found = await api("GET", `/api/kiosk/queues/${encodeURIComponent(select.value)}${answered}`);
    list.replaceChildren(...(found.length ? found.map(card) : [el("li", { text: t("sapps.empty") })]));
  } catch (failure) {
    showError(error, failure);
  }
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(ROLES);
  if (account) {
    show("screen-applications");
    const queues = await api("GET", "/api/kiosk/queues");
    select.replaceChildren(...queues.map((q) => el("option", { value: q.id, text: queueName(q) })));
    if (!queues.length) {
      choose.hidden = true;
      document.getElementById("sapps-none").hidden = false;
      list.replaceChildren();
    }
    choose.addEventListener("change", () => load().catch((failure) => flash(errorText(failure))));
    await load();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
