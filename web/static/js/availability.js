// A clinician's own availability: the sessions they offer each week per service, one-off extra
// sessions, and leave. Overlaps with what is already set are refused by the server, in words.

import { api, clearError, el, flash, formatDateTime, setupLanguageSwitch, setupSignOut, setupStaffSignIn, show, showError, staffGate, t } from "./common.js";
import { forbidden, refusal } from "./desk_common.js";

const state = { account: null, services: [] };

function status(text) {
  document.getElementById("availability-status").textContent = text;
}

function serviceName(id) {
  const s = state.services.find((x) => x.id === id);
  return s ? s.name : "–";
}

function removeButton(label, onclick) {
  return el("button", { type: "button", class: "button secondary", "aria-label": label, text: t("availability.remove"), onclick });
}

async function loadWeekly() {
  const rules = await api("GET", `/api/clinicians/${encodeURIComponent(state.account.account_id)}/availability`);
  document.getElementById("weekly").replaceChildren(
    ...(rules.length
      ? rules.map((r) => {
          const day = t(`desk.day_${r.weekday}`);
          return el(
            "tr",
            { "data-rule": r.id },
            el("td", { text: day }),
            el("td", { text: r.start }),
            el("td", { text: r.end }),
            el("td", { text: serviceName(r.service_id) }),
            el(
              "td",
              {},
              removeButton(`${t("availability.remove")}: ${day} ${r.start}–${r.end}`, () =>
                remove(`/api/availability/${encodeURIComponent(r.id)}`),
              ),
            ),
          );
        })
      : [el("tr", {}, el("td", { colspan: "5", text: t("availability.weekly_none") }))]),
  );
}

async function loadOnce() {
  const found = await api("GET", `/api/clinicians/${encodeURIComponent(state.account.account_id)}/exceptions`);
  document.getElementById("once").replaceChildren(
    ...(found.length
      ? found.map((x) => {
          const kind = t(`availability.kind_${x.kind}`);
          const from = formatDateTime(x.starts_at);
          return el(
            "tr",
            { "data-exception": x.id },
            el("td", { text: kind }),
            el("td", { text: from }),
            el("td", { text: formatDateTime(x.ends_at) }),
            el("td", { text: x.service_id ? serviceName(x.service_id) : "–" }),
            el(
              "td",
              {},
              removeButton(`${t("availability.remove")}: ${kind} ${from}`, () =>
                remove(`/api/availability/exceptions/${encodeURIComponent(x.id)}`),
              ),
            ),
          );
        })
      : [el("tr", {}, el("td", { colspan: "5", text: t("availability.once_none") }))]),
  );
}

async function remove(path) {
  try {
    await api("DELETE", path);
    await Promise.all([loadWeekly(), loadOnce()]);
    status(t("availability.removed"));
  } catch (failure) {
    flash(refusal(failure));
  }
}

function onSubmit(id, errorId, action) {
  const form = document.getElementById(id);
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    const error = document.getElementById(errorId);
    clearError(error);
    try {
      await action(form, error);
    } catch (failure) {
      showError(error, refusal(failure));
    } finally {
      busy = false;
    }
  });
}

function wire() {
  onSubmit("weekly-form", "weekly-error", async (form, error) => {
    if (!form.start.value || !form.end.value || form.end.value <= form.start.value) {
      showError(error, t("availability.need_times"));
      return;
    }
    const rule = await api("POST", "/api/availability", {
      service_id: form.service.value,
      weekday: Number(form.day.value),
      start: form.start.value,
      end: form.end.value,
    });
    await loadWeekly();
    status(t("availability.weekly_added", { day: t(`desk.day_${rule.weekday}`), start: rule.start, end: rule.end }));
  });
  onSubmit("once-form", "once-error", async (form, error) => {
    const start = form.start.value ? new Date(form.start.value) : null;
    const end = form.end.value ? new Date(form.end.value) : null;
    if (!start || !end || end <= start) {
      showError(error, t("availability.need_times"));
      return;
    }
    const body = { kind: form.kind.value, starts_at: start.toISOString(), ends_at: end.toISOString() };
    if (form.kind.value === "extra") body.service_id = form.service.value;
    const added = await api("POST", "/api/availability/exceptions", body);
    await loadOnce();
    status(
      t("availability.once_added", {
        kind: t(`availability.kind_${added.kind}`),
        from: formatDateTime(added.starts_at),
        to: formatDateTime(added.ends_at),
      }),
    );
  });
  const kind = document.getElementById("once-kind");
  const syncKind = () => {
    document.getElementById("once-service").disabled = kind.value !== "extra";
  };
  kind.addEventListener("change", syncKind);
  syncKind();
}

async function start() {
  setupLanguageSwitch(() => state.account !== null);
  setupSignOut(() => window.location.reload());
  setupStaffSignIn();
  state.account = await staffGate(["clinician"]);
  if (state.account) {
    try {
      state.services = await api("GET", "/api/services");
      const options = () => state.services.map((s) => el("option", { value: s.id, text: s.name }));
      document.getElementById("weekly-service").replaceChildren(...options());
      document.getElementById("once-service").replaceChildren(...options());
      wire();
      await Promise.all([loadWeekly(), loadOnce()]);
      show("screen-availability");
    } catch (failure) {
      if (forbidden(failure)) show("screen-wrong-role");
      else flash(refusal(failure));
    }
  }
  document.body.dataset.ready = "true";
}

start();
