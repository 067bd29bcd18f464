// The clinician's desk: today's list with where each consult stands now, the patients waiting
// across all appointments (each with Admit beside the name), and the outcome with a follow-up.
// From the list any consult in progress or stuck can be rejoined, admitted again, or given an
// outcome (seen, or did not attend with its reason). The consult itself is clinician_call.js.

import {
  ApiError,
  api,
  clearError,
  el,
  errorText,
  formatDate,
  formatTime,
  reasonLabel,
  serverNow,
  show,
  showError,
  t,
} from "./common.js";
import { call } from "./clinician_call.js";
import { identityBlock } from "./clinician_identity.js";
import { contextBlock } from "./clinician_context.js";
import { testCallLine } from "./clinician_testcall.js";
import { interpreterButton, openInvite, setupInterpreter } from "./clinician_interpreter.js";

const LIVE_EVERY_MS = 3000;
const LIST_REFRESH_MS = 30000;
const ACTIVE = new Set(["booked", "checked_in", "in_progress"]);
const STARTED = new Set(["checked_in", "in_progress"]);
const RECORDED = new Set(["completed", "did_not_attend"]);

const state = {
  account: null,
  appointments: new Map(),
  patients: new Map(),
  live: new Map(),
  waitingAll: new Map(),
  waitingAllLoaded: false,
  reasons: [],
  outcomeFor: null,
  outcomeLive: false,
};

function dayRange() {
  const now = new Date(serverNow());
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const end = new Date(start.getTime() + 24 * 3600 * 1000);
  return { from: start.toISOString(), to: end.toISOString() };
}

function patientLabel(appointment) {
  const patient = state.patients.get(appointment.id);
  if (patient) return `${patient.display_name} (${patient.prison_number})`;
  return `${t("clinician.col_patient")} ${appointment.prisoner_id.slice(0, 6)}`;
}

function label(appointmentId) {
  const appointment = state.appointments.get(appointmentId);
  return appointment ? patientLabel(appointment) : t("clinician.col_patient");
}

async function loadPatients(items) {
  await Promise.all(
    items
      .filter((a) => !state.patients.has(a.id))
      .map(async (a) => {
        try {
          state.patients.set(a.id, await api("GET", `/api/appointments/${encodeURIComponent(a.id)}/patient`));
        } catch {
          // The label falls back to a short reference.
        }
      }),
  );
}

function problem(text) {
  showError(document.getElementById("list-error"), text);
}

// ------------------------------------------------------------ the list

/** Where a consult stands now, in words, from its live room. */
function liveWords(room) {
  if (!room || room.state === "ended") return "";
  const patient = room.patient;
  if (patient && patient.status === "waiting") {
    return t("clinician.live_waiting", { since: formatTime(patient.waiting_since || patient.since) });
  }
  if (patient && patient.admitted && patient.status === "present") {
    const me = room.clinician;
    return me && me.status === "present" ? t("clinician.live_in_call") : t("clinician.live_you_away");
  }
  if (patient && patient.status === "away") return t("clinician.live_patient_away");
  if (patient && patient.status === "left") return t("clinician.live_patient_left");
  return t("clinician.live_open");
}

function rowActions(a, room) {
  const when = formatTime(a.starts_at);
  const who = patientLabel(a);
  if (RECORDED.has(a.status)) {
    return [
      el("button", {
        type: "button",
        class: "button secondary",
        "data-outcome": a.id,
        "aria-label": `${t("outcome.amend")}: ${when} ${who}`,
        text: t("outcome.amend"),
      }),
      el("a", {
        class: "button secondary",
        href: `/recordings?appointment=${encodeURIComponent(a.id)}`,
        "aria-label": `${t("recordings.open")}: ${when} ${who}`,
        text: t("recordings.open"),
      }),
    ];
  }
  if (!ACTIVE.has(a.status)) return [];
  const buttons = [];
  const patient = room && room.state !== "ended" ? room.patient : null;
  if (patient && patient.status === "waiting") {
    buttons.push(
      el("button", {
        type: "button",
        class: "button primary",
        "data-admit-appointment": a.id,
        "data-participant": patient.participant,
        "aria-label": `${t("clinician.admit")}: ${when} ${who}`,
        text: t("clinician.admit"),
      }),
    );
  }
  const rejoin = (room && room.state !== "ended" && room.clinician) || a.status === "in_progress";
  buttons.push(
    el("button", {
      type: "button",
      class: patient && patient.status === "waiting" ? "button secondary" : "button primary",
      "data-open": a.id,
      "aria-label": `${t(rejoin ? "clinician.rejoin" : "clinician.open")}: ${when} ${who}`,
      text: t(rejoin ? "clinician.rejoin" : "clinician.open"),
    }),
  );
  buttons.push(interpreterButton(a, when, who));
  if (STARTED.has(a.status) || (room && room.state !== "ended")) {
    buttons.push(
      el("button", {
        type: "button",
        class: "button secondary",
        "data-outcome": a.id,
        "aria-label": `${t("clinician.record_outcome")}: ${when} ${who}`,
        text: t("clinician.record_outcome"),
      }),
    );
  }
  return buttons;
}

/** Whether the consult needs video (no sound-only step): shown, and changed, in its row. */
function videoRequiredBox(a) {
  const id = `video-required-${a.id}`;
  const box = el("input", { type: "checkbox", id, "data-video-required": a.id });
  box.checked = Boolean(a.video_required);
  box.disabled = !ACTIVE.has(a.status);
  return el("div", { class: "field check" }, box, el("label", { for: id, text: t("clinician.video_required") }));
}

async function setVideoRequired(box) {
  const id = box.dataset.videoRequired;
  try {
    const changed = await api("POST", `/api/appointments/${encodeURIComponent(id)}/video-required`, {
      video_required: box.checked,
    });
    state.appointments.set(id, { ...state.appointments.get(id), video_required: changed.video_required });
  } catch (failure) {
    box.checked = !box.checked;
    problem(errorText(failure));
  }
}

function renderList() {
  const body = document.getElementById("today");
  const items = [...state.appointments.values()];
  if (!items.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: t("clinician.list_none") })));
    return;
  }
  body.replaceChildren(
    ...items.map((a) => {
      const room = state.live.get(a.id);
      const words = liveWords(room);
      return el(
        "tr",
        { "data-appointment": a.id },
        el("td", { text: `${formatTime(a.starts_at)}–${formatTime(a.ends_at)}` }),
        el("td", {}, patientLabel(a), testCallLine(a), videoRequiredBox(a)),
        el(
          "td",
          {},
          t(`health.status_${a.status}`),
          words ? el("span", { class: "live-state", text: ` · ${words}` }) : null,
        ),
        el("td", {}, el("div", { class: "row-actions" }, ...rowActions(a, room))),
      );
    }),
  );
}

async function loadList() {
  document.getElementById("list-date").textContent = formatDate(new Date(serverNow()).toISOString());
  const { from, to } = dayRange();
  const query = new URLSearchParams({ from, to, clinician_id: state.account.account_id });
  const items = await api("GET", `/api/appointments?${query}`);
  items.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  state.appointments = new Map(items.map((a) => [a.id, a]));
  await loadPatients(items);
  renderList();
}

// ------------------------------------- live rooms and who is waiting now

function renderWaitingAll() {
  const list = document.getElementById("waiting-all");
  const waiting = [...state.waitingAll.values()];
  if (!waiting.length) {
    list.replaceChildren(el("li", { text: t("clinician.waiting_all_none") }));
    return;
  }
  list.replaceChildren(
    ...waiting.map((w) => {
      const name = w.prison_number ? `${w.prisoner_name} (${w.prison_number})` : w.prisoner_name;
      const open = call.current() === w.appointment_id;
      return el(
        "li",
        { class: "arrived", "data-waiting": w.appointment_id },
        el(
          "div",
          { class: "waiting-row" },
          el("p", { class: "card-title", text: name }),
          open
            ? null
            : el("button", {
                type: "button",
                class: "button primary",
                "data-admit-appointment": w.appointment_id,
                "data-participant": w.prisoner_id,
                "aria-label": `${t("clinician.admit")}: ${name}`,
                text: t("clinician.admit"),
              }),
          open
            ? null
            : el("button", {
                type: "button",
                class: "button secondary",
                "data-open": w.appointment_id,
                "aria-label": `${t("clinician.open")}: ${formatTime(w.starts_at)} ${name}`,
                text: t("clinician.open"),
              }),
        ),
        el("p", {
          text: t("clinician.waiting_since", { time: formatTime(w.starts_at), since: formatTime(w.waiting_since) }),
        }),
        identityBlock(w.appointment_id, state.patients.get(w.appointment_id)),
        contextBlock(w.appointment_id),
      );
    }),
  );
}

function alertArrival(text) {
  const banner = document.getElementById("arrival-alert");
  banner.textContent = text;
  banner.hidden = false;
  beep();
}

function beep() {
  window.tcBeeps = (window.tcBeeps || 0) + 1;
  try {
    const context = new AudioContext();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.4);
    tone.addEventListener("ended", () => context.close());
  } catch {
    // No audio output: the visual alert still shows.
  }
}

/** The patients waiting now: scheduling's checked-in ones, and any back in a live room. */
async function pollLive() {
  const ids = [...state.appointments.keys()];
  const [found, rooms] = await Promise.all([
    api("GET", "/api/waiting-room"),
    ids.length
      ? api("GET", `/api/consults/live?${new URLSearchParams(ids.map((id) => ["appointment", id]))}`)
      : [],
  ]);
  state.live = new Map(rooms.map((room) => [room.appointment, room]));
  const waiting = new Map(found.map((w) => [w.appointment_id, w]));
  for (const room of rooms) {
    const patient = room.patient;
    const a = state.appointments.get(room.appointment);
    if (room.state === "ended" || !patient || patient.status !== "waiting" || !a) continue;
    const person = state.patients.get(a.id) || {};
    waiting.set(room.appointment, {
      appointment_id: a.id,
      prisoner_id: patient.participant,
      prisoner_name: person.display_name || patientLabel(a),
      prison_number: person.prison_number || null,
      starts_at: a.starts_at,
      waiting_since: patient.waiting_since || patient.since,
    });
  }
  for (const [id, room] of state.live) {
    if (room.state === "ended" || !room.patient || room.patient.status !== "waiting") waiting.delete(id);
  }
  const arrived = [...waiting.keys()].filter((id) => !state.waitingAll.has(id));
  state.waitingAll = waiting;
  renderWaitingAll();
  renderList();
  if (arrived.length && state.waitingAllLoaded) {
    loadList().catch(() => {});
    const w = waiting.get(arrived[arrived.length - 1]);
    alertArrival(t("clinician.arrived", { name: w.prison_number ? `${w.prisoner_name} (${w.prison_number})` : w.prisoner_name }));
  }
  state.waitingAllLoaded = true;
}

// ------------------------------------------------------------- outcome

async function loadReasons() {
  try {
    state.reasons = await api("GET", "/api/reasons");
  } catch {
    state.reasons = [];
  }
  const select = document.getElementById("dna-reason");
  if (state.reasons.length) {
    select.replaceChildren(
      el("option", { value: "", text: t("outcome.choose_reason") }),
      ...state.reasons
        .filter((r) => r.cause !== "clinician")
        .map((r) => el("option", { value: r.code, text: reasonLabel(r) })),
    );
  }
}

const END_REASONS = { unwell: "patient_unwell", network_failure: "technical", device_unavailable: "technical" };

const FIELDS = {
  outcome: { box: "outcome-choice", error: "outcome-choice-error" },
  reason: { box: "dna-reason", error: "dna-reason-error" },
  note: { box: "outcome-note", error: "outcome-note-error" },
  follow_up: { box: "follow-up-search", error: "follow-up-error" },
};

function node(id) {
  return document.getElementById(id);
}

function clearFields() {
  for (const { box, error } of Object.values(FIELDS)) {
    node(box).removeAttribute("aria-invalid");
    clearError(node(error));
  }
  clearError(node("outcome-error"));
}

/** Marks the field the server (or the form) named as wrong, with its message, and moves to it. */
function markField(field, text) {
  const known = FIELDS[field];
  if (!known) {
    showError(node("outcome-error"), text);
    return;
  }
  const box = node(known.box);
  box.setAttribute("aria-invalid", "true");
  showError(node(known.error), text);
  const focusable = box.matches("input, select, textarea") ? box : box.querySelector("input, select, textarea, button");
  if (focusable) focusable.focus();
}

function fieldText(failure, field) {
  const reason = failure instanceof ApiError ? failure.body.reason : null;
  if (reason === "amend_window_closed") return t("outcome.amend_closed");
  const key = `outcome.error_${field}`;
  return t(key) === key ? errorText(failure) : t(key);
}

/** Shows only what applies: a reason only for a consult that did not take place. */
function showApplicable() {
  const form = node("outcome-form");
  const dna = form.outcome.value === "did_not_attend";
  node("dna-reason-field").hidden = !dna;
  node("follow-up-search").hidden = !form.follow_up.checked;
  if (!dna) {
    node("dna-reason").removeAttribute("aria-invalid");
    clearError(node("dna-reason-error"));
  }
}

function isoDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The outcome form for `appointmentId`; `live`: its consult is still open and ends with it. */
function outcome(appointmentId, { live = false } = {}) {
  state.outcomeFor = appointmentId;
  state.outcomeLive = live;
  const appointment = state.appointments.get(appointmentId);
  const amending = Boolean(appointment && RECORDED.has(appointment.status));
  const form = node("outcome-form");
  form.reset();
  if (amending) {
    form.outcome.value = appointment.status;
    if (appointment.outcome_reason) form.reason.value = appointment.outcome_reason;
  }
  node("outcome-amending").hidden = !amending;
  node("follow-up-field").hidden = amending;
  node("follow-up-slots").replaceChildren();
  node("follow-up-found").textContent = "";
  const tomorrow = new Date(serverNow() + 24 * 3600 * 1000);
  node("follow-up-from").value = isoDate(tomorrow);
  node("outcome-for").textContent = label(appointmentId);
  node("outcome-live").hidden = !live;
  node("outcome-submit").textContent = t(amending ? "outcome.amend_save" : "clinician.outcome_save");
  clearFields();
  showApplicable();
  show("screen-outcome");
}

/** Times for a follow-up with this clinician, from the slot search the booking screens use. */
async function findTimes() {
  const appointment = state.appointments.get(state.outcomeFor);
  const list = node("follow-up-slots");
  node("follow-up-search").removeAttribute("aria-invalid");
  clearError(node("follow-up-error"));
  const day = node("follow-up-from").value;
  if (!appointment || !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
    markField("follow_up", t("outcome.error_follow_up_from"));
    return;
  }
  const [year, month, date] = day.split("-").map(Number);
  const from = new Date(year, month - 1, date);
  const query = new URLSearchParams({
    service_id: appointment.service_id,
    clinician_id: state.account.account_id,
    prisoner_id: appointment.prisoner_id,
    from: from.toISOString(),
    to: new Date(from.getTime() + 7 * 24 * 3600 * 1000).toISOString(),
    limit: "12",
  });
  node("follow-up-found").textContent = t("common.loading");
  const slots = await api("GET", `/api/slots?${query}`);
  node("follow-up-found").textContent = slots.length ? t("outcome.times_found", { n: slots.length }) : t("outcome.no_times");
  list.replaceChildren(
    ...slots.map((slot, index) => {
      const id = `follow-up-slot-${index}`;
      return el(
        "div",
        { class: "field check" },
        el("input", { type: "radio", id, name: "follow_up_slot", value: slot.starts_at }),
        el("label", { for: id, text: `${formatDate(slot.starts_at)} ${formatTime(slot.starts_at)}–${formatTime(slot.ends_at)}` }),
      );
    }),
  );
}

async function submitOutcome(form) {
  clearFields();
  const id = encodeURIComponent(state.outcomeFor);
  const appointment = state.appointments.get(state.outcomeFor);
  const seen = form.outcome.value === "completed";
  let slot = null;
  if (form.follow_up.checked && !node("follow-up-field").hidden) {
    const chosen = form.querySelector("input[name='follow_up_slot']:checked");
    if (!chosen) {
      markField("follow_up", t("outcome.error_follow_up"));
      return false;
    }
    slot = chosen.value;
  }
  if (state.outcomeLive) {
    await call.end(state.outcomeFor, seen ? "completed" : END_REASONS[form.reason.value] || "other");
    state.outcomeLive = false;
  }
  const body = { outcome: form.outcome.value };
  if (!seen) body.reason = form.reason.value;
  if (form.note.value.trim()) body.note = form.note.value;
  try {
    await api("PUT", `/api/appointments/${id}/outcome`, body);
  } catch (failure) {
    const field = failure instanceof ApiError ? failure.body.field : null;
    if (field) markField(field, fieldText(failure, field));
    else showError(node("outcome-error"), failure);
    return false;
  }
  if (slot && appointment) {
    try {
      await api("POST", "/api/appointments", {
        prisoner_id: appointment.prisoner_id,
        service_id: appointment.service_id,
        clinician_id: state.account.account_id,
        starts_at: slot,
      });
    } catch (failure) {
      // The outcome is recorded; only the follow-up is wrong, and the form says so there.
      node("follow-up-field").hidden = true;
      markField("follow_up", `${t("outcome.recorded_follow_up_failed")} ${errorText(failure)}`);
      await findTimes().catch(() => {});
      return false;
    }
  }
  return true;
}

function setupOutcome() {
  const form = node("outcome-form");
  let busy = false;
  form.addEventListener("change", (event) => {
    if (event.target.name === "outcome" || event.target.name === "follow_up") showApplicable();
  });
  node("follow-up-find").addEventListener("click", () => {
    findTimes().catch((failure) => markField("follow_up", errorText(failure)));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // A double click sends one outcome: the button is off until the answer is in.
    if (busy) return;
    busy = true;
    const button = node("outcome-submit");
    button.disabled = true;
    let done = false;
    try {
      done = await submitOutcome(form);
    } catch (failure) {
      showError(node("outcome-error"), failure);
    } finally {
      busy = false;
      button.disabled = false;
    }
    if (!done) return;
    form.reset();
    node("outcome-done").hidden = false;
    await loadList();
    await pollLive().catch(() => {});
    setTimeout(() => {
      node("outcome-done").hidden = true;
      show("screen-list");
    }, 1500);
  });
  node("outcome-back").addEventListener("click", () => show("screen-list"));
}

// ---------------------------------------------------------------- setup

function openConsult(appointmentId, options) {
  clearError(document.getElementById("list-error"));
  call
    .open(appointmentId, options)
    .then(renderWaitingAll)
    .catch(() => problem(t("error.network")));
}

function setup() {
  for (const id of ["today", "waiting-all"]) {
    document.getElementById(id).addEventListener("click", (event) => {
      const opening = event.target.closest("button[data-open]");
      const admitting = event.target.closest("button[data-admit-appointment]");
      const recording = event.target.closest("button[data-outcome]");
      const inviting = event.target.closest("button[data-interpreter]");
      if (inviting) {
        const a = state.appointments.get(inviting.dataset.interpreter);
        if (a) openInvite(a.id, formatTime(a.starts_at), patientLabel(a), inviting);
      } else if (opening) openConsult(opening.dataset.open);
      else if (admitting) {
        openConsult(admitting.dataset.admitAppointment, { admit: admitting.dataset.participant });
      } else if (recording) {
        const room = state.live.get(recording.dataset.outcome);
        outcome(recording.dataset.outcome, { live: Boolean(room && room.state !== "ended") });
      }
    });
  }
  document.getElementById("today").addEventListener("change", (event) => {
    const box = event.target.closest("input[data-video-required]");
    if (box) setVideoRequired(box).catch(() => {});
  });
  setupOutcome();
  setupInterpreter();
  call.setup({
    label,
    heading: (id) => {
      const a = state.appointments.get(id);
      return a ? `${formatTime(a.starts_at)} ${patientLabel(a)}` : "";
    },
    identity: (id) => identityBlock(id, state.patients.get(id)),
    arrival: (id) => alertArrival(t("clinician.arrived", { name: label(id) })),
    outcome,
    problem,
  });
}

async function start(account) {
  state.account = account;
  setup();
  await Promise.all([loadList(), loadReasons()]);
  await pollLive().catch(() => {});
  // Every patient of this clinician waiting now, and where each consult stands, live.
  setInterval(() => {
    if (!document.getElementById("screen-list").hidden) pollLive().catch(() => {});
  }, LIVE_EVERY_MS);
  // Check-ins and outcomes recorded elsewhere show up without a reload.
  setInterval(() => {
    if (!document.getElementById("screen-list").hidden) loadList().catch(() => {});
  }, LIST_REFRESH_MS);
}

export const desk = { start };
