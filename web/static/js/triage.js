// Clinicians and healthcare administrators: the health requests waiting, most urgent and oldest
// first, each with its wait against the service's target. Deciding one books it (straight to the
// slot search, the request attached), or answers it with advice or a decline the patient reads.

import { api, clearError, el, flash, formatDateTime, setupLanguageSwitch, setupSignOut, setupStaffSignIn, show, showError, staffGate, t } from "./common.js";
import { DESK_ROLES, forbidden, refusal } from "./desk_common.js";

const state = { account: null, services: [], queue: [], open: null, busy: false };

function status(text) {
  document.getElementById("triage-status").textContent = text;
}

function serviceName(id) {
  const s = state.services.find((x) => x.id === id);
  return s ? s.name : "";
}

function waitingText(r) {
  const days = Math.floor(r.waited_days);
  return r.target_days === null || r.target_days === undefined
    ? t("triage.waited", { days })
    : t("triage.waited_target", { days, target: r.target_days });
}

function row(r) {
  const about = [t(`request.category_${r.category}`), serviceName(r.service_id)].filter(Boolean).join(" · ");
  return el(
    "tr",
    { "data-request": r.id },
    el("td", { text: formatDateTime(r.created_at) }),
    el("td", { text: `${r.prisoner_name} (${r.prison_number})` }),
    el("td", { text: about }),
    el("td", { text: t(`triage.urgency_${r.urgency || "none"}`) }),
    el(
      "td",
      {},
      waitingText(r),
      r.over_target ? el("strong", { class: "tag", text: ` ${t("triage.over_target")}` }) : null,
    ),
    el(
      "td",
      {},
      el("button", {
        type: "button",
        class: "button secondary",
        "data-open": r.id,
        "aria-label": `${t("triage.open")}: ${r.prisoner_name}`,
        text: t("triage.open"),
      }),
    ),
  );
}

async function loadQueue() {
  const service = document.getElementById("service-filter").value;
  const query = service ? `?service_id=${encodeURIComponent(service)}` : "";
  state.queue = await api("GET", `/api/health-requests${query}`);
  document
    .getElementById("queue")
    .replaceChildren(...(state.queue.length ? state.queue.map(row) : [el("tr", {}, el("td", { colspan: "6", text: t("triage.none") }))]));
  status(state.queue.length ? t("triage.count", { count: state.queue.length }) : "");
}

function syncDecision() {
  const form = document.getElementById("decide-form");
  const decision = form.decision.value;
  document.getElementById("book-fields").hidden = decision !== "book";
  document.getElementById("message-field").hidden = decision === "book";
}

function openRequest(id) {
  const r = state.queue.find((x) => x.id === id);
  if (!r) return;
  state.open = r;
  const panel = document.getElementById("decide");
  panel.hidden = false;
  panel.dataset.request = r.id;
  document.getElementById("decide-heading").textContent = t("triage.decide_heading", { name: r.prisoner_name, number: r.prison_number });
  document.getElementById("decide-about").textContent = `${t(`request.category_${r.category}`)} · ${formatDateTime(r.created_at)} · ${waitingText(r)}`;
  document.getElementById("decide-text").textContent = r.text === null ? t("triage.text_withheld") : r.text;
  const form = document.getElementById("decide-form");
  form.reset();
  if (r.service_id) form.service.value = r.service_id;
  if (r.urgency) form.urgency.value = r.urgency;
  clearError(document.getElementById("decide-error"));
  syncDecision();
  document.getElementById("decide-heading").focus();
}

async function decide(form) {
  const r = state.open;
  const decision = form.decision.value;
  if (decision === "book") {
    if (!form.service.value) {
      showError(document.getElementById("decide-error"), t("triage.need_service"));
      return;
    }
    if (r.status !== "triaged" || r.service_id !== form.service.value || r.urgency !== form.urgency.value) {
      await api("POST", `/api/health-requests/${encodeURIComponent(r.id)}/triage`, {
        service_id: form.service.value,
        urgency: form.urgency.value,
      });
    }
    window.location.assign(`/booking?request=${encodeURIComponent(r.id)}`);
    return;
  }
  const message = form.message.value.trim();
  if (!message) {
    showError(document.getElementById("decide-error"), t("triage.need_message"));
    form.message.focus();
    return;
  }
  await api("POST", `/api/health-requests/${encodeURIComponent(r.id)}/answer`, { decision, message });
  document.getElementById("decide").hidden = true;
  state.open = null;
  await loadQueue();
  status(t(decision === "advise" ? "triage.advised" : "triage.declined", { name: r.prisoner_name }));
}

function wire() {
  document.getElementById("service-filter").addEventListener("change", () => loadQueue().catch((f) => flash(refusal(f))));
  document.getElementById("queue").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-open]");
    if (button) openRequest(button.dataset.open);
  });
  const form = document.getElementById("decide-form");
  form.addEventListener("change", syncDecision);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.busy) return;
    state.busy = true;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    clearError(document.getElementById("decide-error"));
    try {
      await decide(form);
    } catch (failure) {
      showError(document.getElementById("decide-error"), refusal(failure));
      await loadQueue().catch(() => {});
    } finally {
      state.busy = false;
      submit.disabled = false;
    }
  });
  document.getElementById("decide-close").addEventListener("click", () => {
    document.getElementById("decide").hidden = true;
    state.open = null;
  });
}

async function start() {
  setupLanguageSwitch(() => state.account !== null);
  setupSignOut(() => window.location.reload());
  setupStaffSignIn();
  state.account = await staffGate(DESK_ROLES);
  if (state.account) {
    try {
      state.services = await api("GET", "/api/services");
      document.getElementById("service-filter").replaceChildren(
        el("option", { value: "", text: t("desk.all_services") }),
        ...state.services.map((s) => el("option", { value: s.id, text: s.name })),
      );
      document.getElementById("decide-service").replaceChildren(
        ...state.services.map((s) => el("option", { value: s.id, text: s.name })),
      );
      wire();
      await loadQueue();
      show("screen-triage");
    } catch (failure) {
      if (forbidden(failure)) show("screen-wrong-role");
      else flash(refusal(failure));
    }
  }
  document.body.dataset.ready = "true";
}

start();
