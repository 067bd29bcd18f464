// Applications on the device: write to a department, get a receipt at once, read the reply,
// and take an answered one further (a complaint, then an appeal). The words are shown as
// text, never as markup. A double tap sends one application: each filled-in form carries
// one Idempotency-Key until it is sent.

import { ApiError, api, clearError, el, formatDate, formatDateTime, showError, t } from "./common.js";
import { sessionLost } from "./device.js";

const PATHS = {
  departments: "/api/kiosk/departments",
  mine: "/api/kiosk/applications",
  escalate: (id) => `/api/kiosk/applications/${encodeURIComponent(id)}/escalate`,
};
const MAX_TEXT = 2000;
const HTML = /<\s*[/!?]?\s*[a-zA-Z]|<!--/;
const NEXT = { application: "complaint", complaint: "appeal" };

let ready = false;
let sendKey = null;

function newKey() {
  return crypto.randomUUID();
}

/** A built-in department in the reader's language; one the establishment added by its name. */
function departmentName(d) {
  const key = `apps.dept_${d.code}`;
  const word = t(key);
  return word === key ? d.name : word;
}

function problem(text) {
  if (!text) return t("apps.need_text");
  if (text.length > MAX_TEXT) return t("apps.too_long", { n: MAX_TEXT });
  if (HTML.test(text)) return t("apps.no_html");
  return null;
}

function hours(n) {
  if (n < 48) return t("apps.taken_hours", { n: Math.round(n) });
  return t("apps.taken_days", { n: Math.round(n / 24) });
}

function escalateForm(a) {
  const stage = NEXT[a.stage];
  const id = `esc-${a.id}`;
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const area = el("textarea", { id: `${id}-text`, name: "text", rows: "3", maxlength: String(MAX_TEXT), required: true });
  const fields = [
    el("div", { class: "field" }, el("label", { for: `${id}-text`, text: t(`apps.escalate_label_${stage}`) }), area),
  ];
  let secret = null;
  if (stage === "complaint") {
    secret = el("input", { type: "checkbox", id: `${id}-confidential`, name: "confidential" });
    fields.push(
      el(
        "div",
        { class: "field checkbox" },
        secret,
        el("label", { for: `${id}-confidential`, text: t("apps.confidential") }),
      ),
    );
  }
  let key = newKey();
  const form = el(
    "form",
    { class: "form escalate", novalidate: true, "aria-label": t(`apps.escalate_${stage}`) },
    ...fields,
    error,
    el("button", { type: "submit", class: "button primary", text: t(`apps.escalate_${stage}`) }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const text = area.value.trim();
    const wrong = problem(text);
    if (wrong) {
      showError(error, wrong);
      area.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    let made;
    try {
      made = await api(
        "POST",
        PATHS.escalate(a.id),
        { text, confidential: Boolean(secret && secret.checked) },
        { headers: { "Idempotency-Key": key } },
      );
    } catch (failure) {
      button.disabled = false;
      if (failure instanceof ApiError && failure.status === 401) return sessionLost(failure);
      showError(error, failure);
      return;
    }
    key = newKey();
    showReceipt(made);
    await refresh();
  });
  return el(
    "details",
    { class: "escalate" },
    el("summary", { text: t(`apps.escalate_${stage}`) }),
    form,
  );
}

function card(a) {
  const items = [
    el("p", {
      class: "card-title",
      text: t(`apps.stage_${a.stage}_to`, { dept: departmentName(a.department), receipt: a.receipt }),
    }),
    el("p", { class: "hint", text: t("apps.sent_on", { when: formatDateTime(a.created_at) }) }),
  ];
  if (a.confidential) items.push(el("p", { class: "hint", text: t("apps.is_confidential") }));
  items.push(el("p", { class: "app-text", text: a.text ?? t("apps.unreadable") }));
  if (a.status === "answered") {
    items.push(
      el("p", { class: "status-line", text: t("apps.status_answered", { when: formatDateTime(a.answered_at) }) }),
      el("p", { class: "hint", text: hours(a.taken_hours) }),
      el("p", { class: "reply" }, el("strong", { text: `${t("apps.reply")}: ` }), a.reply ?? t("apps.unreadable")),
    );
    if (NEXT[a.stage] && !a.escalated_to) items.push(escalateForm(a));
  } else {
    items.push(
      el("p", { class: "status-line", text: t("apps.status_open", { when: formatDate(a.target_at) }) }),
    );
  }
  return el(
    "li",
    { class: "card application", "data-receipt": a.receipt, "data-status": a.status, "data-stage": a.stage },
    ...items,
  );
}

function showReceipt(a) {
  const receipt = document.getElementById("apps-receipt");
  receipt.textContent = t("apps.receipt", { receipt: a.receipt, when: formatDate(a.target_at) });
  receipt.hidden = false;
  receipt.focus?.();
}

async function refresh() {
  const list = document.getElementById("apps-list");
  const mine = await api("GET", PATHS.mine);
  list.replaceChildren(...(mine.length ? mine.map(card) : [el("li", { text: t("apps.none") })]));
}

async function loadDepartments() {
  const select = document.getElementById("apps-department");
  const departments = await api("GET", PATHS.departments);
  select.replaceChildren(
    el("option", { value: "", text: t("apps.choose") }),
    ...departments.map((d) => el("option", { value: d.id, text: departmentName(d) })),
  );
}

function setup() {
  const form = document.getElementById("apps-form");
  const error = document.getElementById("apps-error");
  const closed = document.getElementById("apps-closed");
  sendKey = newKey();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const departmentId = form.department.value;
    const text = form.text.value.trim();
    if (!departmentId) {
      showError(error, t("apps.need_department"));
      form.department.focus();
      return;
    }
    const wrong = problem(text);
    if (wrong) {
      showError(error, wrong);
      form.text.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let made;
    try {
      made = await api(
        "POST",
        PATHS.mine,
        { department_id: departmentId, text },
        { headers: { "Idempotency-Key": sendKey } },
      );
    } catch (failure) {
      button.disabled = false;
      if (failure instanceof ApiError && failure.status === 401) return sessionLost(failure);
      if (failure instanceof ApiError && failure.code === "lockdown") closed.hidden = false;
      showError(error, failure);
      return;
    }
    button.disabled = false;
    sendKey = newKey();
    form.reset();
    closed.hidden = true;
    showReceipt(made);
    await refresh();
  });
}

async function load() {
  if (!ready) {
    setup();
    ready = true;
  }
  document.getElementById("apps-receipt").hidden = true;
  try {
    await loadDepartments();
    await refresh();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) sessionLost(failure);
    else showError(document.getElementById("apps-error"), failure);
  }
}

export const applications = { load };
