// The booking desk: find a prisoner, search free slots (`GET /api/slots`, the one slot search
// every booking path uses) by service, clinician, same-sex preference and chaperone need, then
// book, move or cancel with a reason. A refusal (a regime window, leave, a slot just taken) is
// said in words. Where the desk is (the patient, the request, a move) lives in the address, so
// a reload comes back to the same step.

import { ApiError, api, clearError, el, flash, formatDateTime, serverNow, setupLanguageSwitch, setupSignOut, setupStaffSignIn, show, showError, staffGate, t } from "./common.js";
import { DESK_ROLES, forbidden, refusal } from "./desk_common.js";

const state = {
  account: null,
  services: [],
  clinicians: [],
  patient: null,
  request: null,
  moving: null,
  upcoming: [],
  busy: false,
};

const PATIENT_KEY = "tc_booking_patient";

function status(text) {
  document.getElementById("booking-status").textContent = text;
}

function clinicianName(id) {
  const c = state.clinicians.find((x) => x.clinician_id === id);
  return c ? c.name : "";
}

function serviceName(id) {
  const s = state.services.find((x) => x.id === id);
  return s ? s.name : "";
}

function remember() {
  const url = new URL(window.location.href);
  url.search = "";
  if (state.request) url.searchParams.set("request", state.request.id);
  if (state.patient) url.searchParams.set("prisoner", state.patient.prisoner_id);
  if (state.moving) url.searchParams.set("move", state.moving.id);
  window.history.replaceState(null, "", url);
  if (state.patient) sessionStorage.setItem(PATIENT_KEY, JSON.stringify(state.patient));
}

// ------------------------------------------------------------- finding

async function find(form) {
  const q = form.q.value.trim();
  const error = document.getElementById("find-error");
  clearError(error);
  document.getElementById("matches").replaceChildren();
  if (q.length < 2) {
    showError(error, t("booking.find_short"));
    return;
  }
  const found = await api("GET", `/api/patients?q=${encodeURIComponent(q)}`);
  const list = document.getElementById("matches");
  list.replaceChildren(
    ...(found.length
      ? found.map((p) =>
          el(
            "li",
            { "data-patient": p.prisoner_id },
            el("p", { class: "card-title", text: `${p.name} (${p.prison_number})` }),
            p.released
              ? el("p", { text: t("booking.released") })
              : el("button", {
                  type: "button",
                  class: "button secondary",
                  "aria-label": `${t("booking.choose")}: ${p.name}`,
                  text: t("booking.choose"),
                  onclick: () => choose(p).catch((f) => flash(refusal(f))),
                }),
          ),
        )
      : [el("li", { text: t("booking.find_none") })]),
  );
}

async function choose(patient) {
  state.patient = patient;
  state.moving = null;
  remember();
  document.getElementById("find").hidden = true;
  document.getElementById("matches").replaceChildren();
  const panel = document.getElementById("patient");
  panel.hidden = false;
  document.getElementById("patient-heading").textContent = t("booking.patient_heading", {
    name: patient.name,
    number: patient.prison_number,
  });
  document.getElementById("slots").replaceChildren();
  syncMoving();
  await loadUpcoming();
  document.getElementById("patient-heading").focus();
}

// ------------------------------------------------------- appointments

async function loadUpcoming() {
  const now = new Date(serverNow());
  const to = new Date(now.getTime() + 180 * 86400e3);
  const found = await api(
    "GET",
    `/api/appointments?prisoner_id=${encodeURIComponent(state.patient.prisoner_id)}&from=${now.toISOString()}&to=${to.toISOString()}`,
  );
  state.upcoming = found.filter((a) => a.status === "booked" || a.status === "checked_in");
  document.getElementById("upcoming").replaceChildren(
    ...(state.upcoming.length
      ? state.upcoming.map((a) => {
          const when = formatDateTime(a.starts_at);
          return el(
            "tr",
            { "data-appointment": a.id },
            el("td", { text: when }),
            el("td", { text: serviceName(a.service_id) }),
            el("td", { text: clinicianName(a.clinician_id) }),
            el(
              "td",
              {},
              el("button", { type: "button", class: "button secondary", "aria-label": `${t("booking.move")}: ${when}`, text: t("booking.move"), onclick: () => startMove(a) }),
              " ",
              el("button", { type: "button", class: "button secondary", "aria-label": `${t("booking.cancel")}: ${when}`, text: t("booking.cancel"), onclick: () => startCancel(a) }),
            ),
          );
        })
      : [el("tr", {}, el("td", { colspan: "4", text: t("booking.upcoming_none") }))]),
  );
}

function syncMoving() {
  const moving = document.getElementById("moving");
  const heading = document.getElementById("search-heading");
  moving.hidden = !state.moving;
  document.getElementById("reason-field").hidden = Boolean(state.moving);
  heading.textContent = state.moving
    ? t("booking.moving_heading", { when: formatDateTime(state.moving.starts_at) })
    : t("booking.search_heading");
  const form = document.getElementById("search-form");
  if (state.moving) {
    form.service.value = state.moving.service_id;
    form.clinician.value = state.moving.clinician_id;
  }
  form.service.disabled = Boolean(state.moving);
  form.clinician.disabled = Boolean(state.moving);
}

function startMove(a) {
  state.moving = a;
  remember();
  document.getElementById("slots").replaceChildren();
  syncMoving();
  document.getElementById("search-heading").focus();
}

function startCancel(a) {
  const panel = document.getElementById("cancel-panel");
  panel.hidden = false;
  panel.dataset.appointment = a.id;
  document.getElementById("cancel-heading").textContent = t("booking.cancel_heading", { when: formatDateTime(a.starts_at) });
  clearError(document.getElementById("cancel-error"));
  document.getElementById("cancel-heading").focus();
}

async function cancel(form) {
  const panel = document.getElementById("cancel-panel");
  const a = state.upcoming.find((x) => x.id === panel.dataset.appointment);
  if (!a) return;
  const note = form.note.value.trim();
  await api("POST", `/api/appointments/${encodeURIComponent(a.id)}/cancel`, {
    reason: form.reason.value,
    ...(note ? { note } : {}),
  });
  panel.hidden = true;
  form.reset();
  if (state.moving && state.moving.id === a.id) {
    state.moving = null;
    remember();
    syncMoving();
  }
  await loadUpcoming();
  status(t("booking.cancelled", { when: formatDateTime(a.starts_at) }));
}

// ------------------------------------------------------------- slots

async function search(form) {
  const params = new URLSearchParams({ service_id: form.service.value, prisoner_id: state.patient.prisoner_id, limit: "12" });
  if (form.clinician.value) params.set("clinician_id", form.clinician.value);
  if (form.from.value) {
    const from = new Date(`${form.from.value}T00:00:00`);
    params.set("from", from.toISOString());
    params.set("to", new Date(from.getTime() + 14 * 86400e3).toISOString());
  }
  if (form.same_sex.checked) params.set("same_sex", "true");
  if (form.chaperone.checked) params.set("chaperone", "true");
  const slots = await api("GET", `/api/slots?${params}`);
  const list = document.getElementById("slots");
  const label = state.moving ? t("booking.move_here") : t("booking.book");
  list.replaceChildren(
    ...(slots.length
      ? slots.map((s) => {
          const words = t("booking.slot", { when: formatDateTime(s.starts_at), clinician: clinicianName(s.clinician_id) });
          return el(
            "li",
            { "data-slot": s.starts_at },
            el("p", { class: "card-title", text: words }),
            el("button", {
              type: "button",
              class: "button primary",
              "aria-label": `${label}: ${words}`,
              text: label,
              onclick: (event) => take(event.currentTarget, s),
            }),
          );
        })
      : [el("li", { text: t("booking.slots_none") })]),
  );
}

async function take(button, slot) {
  // One press books once: a second click while the first is on its way does nothing.
  if (state.busy) return;
  state.busy = true;
  button.disabled = true;
  const error = document.getElementById("search-error");
  clearError(error);
  const form = document.getElementById("search-form");
  try {
    if (state.moving) {
      const moved = await api("POST", `/api/appointments/${encodeURIComponent(state.moving.id)}/reschedule`, { starts_at: slot.starts_at });
      state.moving = null;
      remember();
      syncMoving();
      status(t("booking.moved", { when: formatDateTime(moved.starts_at) }));
    } else {
      const reason = document.getElementById("book-reason").value.trim();
      const body = {
        prisoner_id: state.patient.prisoner_id,
        service_id: slot.service_id,
        clinician_id: slot.clinician_id,
        starts_at: slot.starts_at,
        same_sex: form.same_sex.checked,
        chaperone: form.chaperone.checked,
      };
      if (reason) body.reason = reason;
      if (state.request) body.request_id = state.request.id;
      const booked = await api("POST", "/api/appointments", body);
      state.request = null;
      document.getElementById("request").hidden = true;
      document.getElementById("book-reason").value = "";
      remember();
      status(t("booking.booked", { when: formatDateTime(booked.starts_at), clinician: clinicianName(booked.clinician_id) }));
    }
    document.getElementById("slots").replaceChildren();
    await loadUpcoming();
  } catch (failure) {
    showError(error, refusal(failure));
    button.disabled = false;
    // The time was taken meanwhile: show the times that are free now, the refusal kept.
    if (failure instanceof ApiError && failure.status === 409) await search(form).catch(() => {});
  } finally {
    state.busy = false;
  }
}

// ------------------------------------------------------------ start

function wire() {
  const guard = (id, errorId, action) => {
    const form = document.getElementById(id);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearError(document.getElementById(errorId));
      try {
        await action(form);
      } catch (failure) {
        showError(document.getElementById(errorId), refusal(failure));
      }
    });
  };
  guard("find-form", "find-error", find);
  guard("search-form", "search-error", search);
  guard("cancel-form", "cancel-error", cancel);
  document.getElementById("cancel-back").addEventListener("click", () => {
    document.getElementById("cancel-panel").hidden = true;
  });
  document.getElementById("stop-moving").addEventListener("click", () => {
    state.moving = null;
    remember();
    syncMoving();
    document.getElementById("slots").replaceChildren();
  });
  document.getElementById("change-patient").addEventListener("click", () => {
    state.patient = null;
    state.moving = null;
    sessionStorage.removeItem(PATIENT_KEY);
    remember();
    document.getElementById("patient").hidden = true;
    document.getElementById("find").hidden = false;
    document.getElementById("find-q").focus();
  });
}

async function restore() {
  const params = new URLSearchParams(window.location.search);
  const requestId = params.get("request");
  if (requestId) {
    const r = await api("GET", `/api/health-requests/${encodeURIComponent(requestId)}`);
    if (r.status === "received" || r.status === "triaged") {
      state.request = r;
      document.getElementById("request").hidden = false;
      document.getElementById("request-line").textContent = t("booking.request_line", {
        name: r.prisoner_name,
        number: r.prison_number,
        when: formatDateTime(r.created_at),
        about: t(`request.category_${r.category}`),
      });
      document.getElementById("request-text").textContent = r.text === null ? t("triage.text_withheld") : r.text;
      if (r.service_id) document.getElementById("search-service").value = r.service_id;
      await choose({ prisoner_id: r.prisoner_id, name: r.prisoner_name, prison_number: r.prison_number, released: false });
      return;
    }
  }
  const prisoner = params.get("prisoner");
  const saved = JSON.parse(sessionStorage.getItem(PATIENT_KEY) || "null");
  if (prisoner && saved && saved.prisoner_id === prisoner) {
    await choose(saved);
    const moveId = params.get("move");
    const a = moveId && state.upcoming.find((x) => x.id === moveId);
    if (a) startMove(a);
  }
}

async function start() {
  setupLanguageSwitch(() => state.account !== null);
  setupSignOut(() => window.location.reload());
  setupStaffSignIn();
  state.account = await staffGate(DESK_ROLES);
  if (state.account) {
    try {
      [state.services, state.clinicians] = await Promise.all([api("GET", "/api/services"), api("GET", "/api/clinicians")]);
      document.getElementById("search-service").replaceChildren(...state.services.map((s) => el("option", { value: s.id, text: s.name })));
      document.getElementById("search-clinician").replaceChildren(
        el("option", { value: "", text: t("booking.any_clinician") }),
        ...state.clinicians.map((c) => el("option", { value: c.clinician_id, text: c.name })),
      );
      wire();
      show("screen-booking");
      await restore();
    } catch (failure) {
      if (forbidden(failure)) show("screen-wrong-role");
      else flash(refusal(failure));
    }
  }
  document.body.dataset.ready = "true";
}

start();
