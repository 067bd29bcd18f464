// The clinician's desk: today's list, the waiting room with its arrival alert, messages,
// admit, the call with a live quality indicator, and the outcome with a follow-up.

import { api, clearError, el, formatTime, serverNow, show, showError, t } from "./common.js";
import { PeerLink, QualityMeter, rtcConfiguration, setupControls } from "./call.js";
import { Signal } from "./signal.js";
import { testCallLine } from "./clinician_testcall.js";

const POOR_LOSS_PCT = 10;
const QUALITY_EVERY_MS = 2000;
const LIST_REFRESH_MS = 30000;
const WAITING_POLL_MS = 4000;
const ACTIVE = new Set(["booked", "checked_in", "in_progress"]);

const state = {
  account: null,
  appointments: new Map(),
  patients: new Map(),
  current: null,
  signal: null,
  stream: null,
  link: null,
  meter: null,
  qualityTimer: null,
  waiting: new Map(),
  // Appointment id -> waiting patient, across all of this clinician's appointments.
  waitingAll: new Map(),
  waitingAllLoaded: false,
  patientAway: false,
  reasons: [],
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

// ------------------------------------------------------------ the list

async function loadList() {
  const body = document.getElementById("today");
  const { from, to } = dayRange();
  const query = new URLSearchParams({ from, to, clinician_id: state.account.account_id });
  const items = await api("GET", `/api/appointments?${query}`);
  items.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  state.appointments = new Map(items.map((a) => [a.id, a]));
  await loadPatients(items);
  if (!items.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: t("clinician.list_none") })));
    return;
  }
  body.replaceChildren(
    ...items.map((a) =>
      el(
        "tr",
        { "data-appointment": a.id },
        el("td", { text: `${formatTime(a.starts_at)}–${formatTime(a.ends_at)}` }),
        el("td", {}, patientLabel(a), testCallLine(a)),
        el("td", { text: t(`health.status_${a.status}`) }),
        el(
          "td",
          {},
          ACTIVE.has(a.status)
            ? el("button", {
                type: "button",
                class: "button primary",
                "data-open": a.id,
                "aria-label": `${t("clinician.open")}: ${formatTime(a.starts_at)} ${patientLabel(a)}`,
                text: t("clinician.open"),
              })
            : null,
        ),
      ),
    ),
  );
}

// ---------------------------------------------------- the waiting room

function checkWords(check) {
  if (!check) return "–";
  if (check.network === "poor") return t("clinician.check_poor");
  if (check.camera !== "ok") return t("clinician.check_audio");
  return t("clinician.check_good");
}

function renderWaiting() {
  const list = document.getElementById("waiting");
  const waiting = [...state.waiting.values()];
  if (!waiting.length) {
    list.replaceChildren(el("li", { text: t("clinician.waiting_none") }));
    return;
  }
  const appointment = state.appointments.get(state.current);
  list.replaceChildren(
    ...waiting.map((member) => {
      const inputId = `notice-${member.participant}`;
      return el(
        "li",
        { class: "arrived", "data-participant": member.participant },
        el("p", { class: "card-title", text: appointment ? patientLabel(appointment) : member.participant }),
        el("p", { text: t("clinician.check_result", { result: checkWords(member.check) }) }),
        el(
          "form",
          { class: "form inline", "data-notice": member.participant },
          el(
            "div",
            { class: "field" },
            el("label", { for: inputId, text: t("clinician.message") }),
            el("input", { id: inputId, name: "text", maxlength: "280" }),
          ),
          el("button", { type: "submit", class: "button secondary", text: t("clinician.message_send") }),
        ),
        el("button", { type: "button", class: "button primary", "data-admit": member.participant, text: t("clinician.admit") }),
      );
    }),
  );
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

function arrivalAlert(member) {
  const appointment = state.appointments.get(state.current);
  const banner = document.getElementById("arrival-alert");
  banner.textContent = t("clinician.arrived", { name: appointment ? patientLabel(appointment) : member.participant });
  banner.hidden = false;
  beep();
}

// ------------------------------------- waiting now, across every appointment

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
      return el(
        "li",
        { class: "arrived", "data-waiting": w.appointment_id },
        el("p", { class: "card-title", text: name }),
        el("p", {
          text: t("clinician.waiting_since", { time: formatTime(w.starts_at), since: formatTime(w.waiting_since) }),
        }),
        w.appointment_id === state.current && state.signal
          ? null
          : el("button", {
              type: "button",
              class: "button primary",
              "data-open": w.appointment_id,
              "aria-label": `${t("clinician.open")}: ${formatTime(w.starts_at)} ${name}`,
              text: t("clinician.open"),
            }),
      );
    }),
  );
}

async function pollWaiting() {
  const found = await api("GET", "/api/waiting-room");
  const arrived = found.filter((w) => !state.waitingAll.has(w.appointment_id));
  state.waitingAll = new Map(found.map((w) => [w.appointment_id, w]));
  renderWaitingAll();
  if (arrived.length) {
    const w = arrived[arrived.length - 1];
    const banner = document.getElementById("arrival-alert");
    banner.textContent = t("clinician.arrived", {
      name: w.prison_number ? `${w.prisoner_name} (${w.prison_number})` : w.prisoner_name,
    });
    banner.hidden = false;
    beep();
    if (state.waitingAllLoaded) loadList().catch(() => {});
  }
  state.waitingAllLoaded = true;
}

// ---------------------------------------------------------------- call

function quality(text, bad) {
  const node = document.getElementById("quality");
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

async function sampleQuality() {
  if (!state.meter) return;
  if (state.patientAway) {
    quality(t("clinician.quality_lost"), true);
    return;
  }
  const q = await state.meter.sample();
  window.tcLastQuality = q;
  if (q.loss_pct > POOR_LOSS_PCT) quality(t("clinician.quality_poor", { loss: q.loss_pct }), true);
  else quality(t("clinician.quality_good"), false);
  // The indicator updates every sample; the audit log gets one report in five.
  state.samples = (state.samples || 0) + 1;
  if (state.samples % 5 !== 1) return;
  state.signal.send({
    type: "quality",
    rtt_ms: q.rtt_ms,
    loss_pct: Math.min(100, q.loss_pct),
    jitter_ms: q.jitter_ms,
    bitrate_kbps: q.bitrate_kbps,
    width: q.width,
    height: q.height,
    fps: q.fps,
  });
}

async function media() {
  if (state.stream) return state.stream;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  } catch {
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => new MediaStream());
  }
  return state.stream;
}

async function callWith(participant) {
  const stream = await media();
  show("screen-call");
  document.getElementById("self-video").srcObject = stream;
  if (state.link) state.link.close();
  state.link = new PeerLink(state.signal, participant, rtcConfiguration(state.iceServers, { device: false }), stream, {
    onTrack: (remote) => {
      document.getElementById("remote-video").srcObject = remote;
    },
    onState: (state) => {
      if (state === "failed" || state === "disconnected") quality(t("clinician.quality_lost"), true);
    },
  });
  state.meter = new QualityMeter(state.link.pc);
  clearInterval(state.qualityTimer);
  state.qualityTimer = setInterval(() => sampleQuality().catch(() => {}), QUALITY_EVERY_MS);
  await state.link.offer();
}

async function onMessage(message) {
  const status = document.getElementById("call-status");
  switch (message.type) {
    case "room":
      if (message.ice_servers) state.iceServers = message.ice_servers;
      state.waiting = new Map(
        (message.members || []).filter((m) => m.role === "patient" && m.status === "waiting").map((m) => [m.participant, m]),
      );
      renderWaiting();
      break;
    case "arrived":
      state.waiting.set(message.participant, message);
      renderWaiting();
      arrivalAlert(message);
      loadList().catch(() => {});
      break;
    case "joined":
      state.waiting.delete(message.participant);
      renderWaiting();
      state.patientAway = false;
      await callWith(message.participant);
      break;
    case "answer":
    case "candidate":
    case "offer":
      if (state.link && message.from === state.link.remote) await state.link.handle(message);
      break;
    case "ice_restart":
      if (state.link) await state.link.offer({ iceRestart: true });
      break;
    case "away":
      state.patientAway = true;
      status.textContent = t("consult.reconnecting");
      quality(t("clinician.quality_lost"), true);
      break;
    case "reconnected":
      state.patientAway = false;
      status.textContent = t("consult.reconnected");
      break;
    case "left":
      state.patientAway = true;
      state.waiting.delete(message.participant);
      renderWaiting();
      quality(t("clinician.quality_lost"), true);
      break;
    case "ended":
      finishCall();
      break;
    case "error":
      if (message.code === "join_refused" || message.code === "room_ended") {
        showError(document.getElementById("outcome-error"), t("error.not_in_window"));
        finishCall();
      }
      break;
    default:
      break;
  }
}

function finishCall() {
  clearInterval(state.qualityTimer);
  if (state.link) state.link.close();
  state.link = null;
  state.meter = null;
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  if (state.signal) state.signal.close();
  state.signal = null;
  document.getElementById("arrival-alert").hidden = true;
  show("screen-outcome");
}

async function open(appointmentId) {
  state.current = appointmentId;
  state.waiting = new Map();
  if (state.signal) state.signal.close();
  const signal = new Signal();
  const welcome = await signal.open();
  state.signal = signal;
  state.iceServers = welcome.ice_servers || [];
  signal.addEventListener("message", (event) => {
    onMessage(event.detail).catch(() => {});
  });
  signal.addEventListener("reconnecting", () => {
    document.getElementById("call-status").textContent = t("consult.reconnecting");
  });
  signal.addEventListener("reconnected", () => {
    document.getElementById("call-status").textContent = t("consult.reconnected");
  });
  signal.send({ type: "join", appointment: appointmentId });
  const appointment = state.appointments.get(appointmentId);
  document.getElementById("call-heading").textContent = appointment
    ? `${formatTime(appointment.starts_at)} ${patientLabel(appointment)}`
    : "";
  renderWaiting();
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
      ...state.reasons
        .filter((r) => r.cause !== "clinician")
        .map((r) => el("option", { value: r.code, text: r.label })),
    );
  }
}

function setupOutcome() {
  const form = document.getElementById("outcome-form");
  const error = document.getElementById("outcome-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const id = encodeURIComponent(state.current);
    const appointment = state.appointments.get(state.current);
    try {
      // Ending a call that happened already marks it completed; "seen" then just confirms it.
      const now = await api("GET", `/api/appointments/${id}`);
      if (form.outcome.value === "completed") {
        if (now.status !== "completed") await api("POST", `/api/appointments/${id}/attended`, {});
      } else await api("POST", `/api/appointments/${id}/did-not-attend`, { reason: form.reason.value });
      if (form.follow_up.checked && appointment) {
        const when = form.follow_up_when.value;
        if (!when) throw new Error("follow-up time");
        await api("POST", "/api/appointments", {
          prisoner_id: appointment.prisoner_id,
          service_id: appointment.service_id,
          clinician_id: state.account.account_id,
          starts_at: new Date(when).toISOString(),
        });
      }
    } catch (failure) {
      showError(error, failure instanceof Error && failure.message === "follow-up time" ? t("error.invalid_request") : failure);
      return;
    }
    form.reset();
    document.getElementById("outcome-done").hidden = false;
    await loadList();
    setTimeout(() => {
      document.getElementById("outcome-done").hidden = true;
      show("screen-list");
    }, 1500);
  });
}

function setup() {
  for (const id of ["today", "waiting-all"]) {
    document.getElementById(id).addEventListener("click", (event) => {
      const button = event.target.closest("button[data-open]");
      if (!button) return;
      open(button.dataset.open)
        .then(renderWaitingAll)
        .catch(() => showError(document.getElementById("outcome-error"), t("error.network")));
    });
  }
  const waiting = document.getElementById("waiting");
  waiting.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-admit]");
    if (button && state.signal) {
      state.signal.send({ type: "admit", participant: button.dataset.admit });
      document.getElementById("arrival-alert").hidden = true;
    }
  });
  waiting.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-notice]");
    if (!form) return;
    event.preventDefault();
    const text = form.text.value.trim();
    if (text && state.signal) {
      state.signal.send({ type: "notice", text });
      form.reset();
    }
  });
  document.getElementById("end-call").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "end", reason: "completed" });
  });
  setupOutcome();
}

async function start(account) {
  state.account = account;
  setup();
  setupControls(
    { getAudioTracks: () => (state.stream ? state.stream.getAudioTracks() : []), getVideoTracks: () => (state.stream ? state.stream.getVideoTracks() : []) },
    () => state.link,
    t,
  );
  await Promise.all([loadList(), loadReasons(), pollWaiting().catch(() => {})]);
  // Every patient of this clinician waiting now, whichever appointment, without opening it.
  setInterval(() => {
    if (!document.getElementById("screen-list").hidden) pollWaiting().catch(() => {});
  }, WAITING_POLL_MS);
  // Check-ins and outcomes recorded elsewhere show up without a reload.
  setInterval(() => {
    if (!document.getElementById("screen-list").hidden) loadList().catch(() => {});
  }, LIST_REFRESH_MS);
}

export const desk = { start };
