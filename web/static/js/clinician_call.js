// The clinician in one consult: its signalling connection, its waiting room, admit, the call
// with a live quality indicator, and the patient coming and going. Opened from the list
// (clinician_desk.js) to start, rejoin or admit; a fresh page, a dropped link or a patient
// who left and came back each lead back into the call, said in words on the way.

import { show, t } from "./common.js";
import { PeerLink, QualityMeter, rtcConfiguration, setupControls } from "./call.js";
import { WaitingRoom } from "./clinician_waiting.js";
import { Signal, closeWords } from "./signal.js";

const POOR_LOSS_PCT = 10;
const SAMPLE_EVERY_MS = 1000;
const REPORT_EVERY = 10;
const STALLED_SAMPLES = 2;
const ANSWER_WITHIN_MS = 10000;

const state = {
  desk: null,
  current: null,
  signal: null,
  stream: null,
  link: null,
  meter: null,
  sampleTimer: null,
  answerTimer: null,
  iceServers: [],
  waiting: null,
  patient: null,
  peer: null,
  peerLocal: false,
  flowing: false,
  stalls: 0,
  samples: 0,
  admitOnArrival: null,
};

function node(id) {
  return document.getElementById(id);
}

function name() {
  return state.desk.label(state.current);
}

// ---------------------------------------------------- the waiting room

function admit(participant) {
  if (!state.signal) return;
  state.signal.send({ type: "admit", participant });
  node("arrival-alert").hidden = true;
}

// ------------------------------------------------------------ the call

function quality(text, bad) {
  const box = node("quality");
  box.textContent = text;
  box.classList.toggle("bad", bad);
}

/** What the patient is doing, in words: null, "lost", "left", "back" or "waiting". */
function peer(what, { local = false } = {}) {
  if (what === "lost" && (state.peer === "left" || state.peer === "back")) return;
  state.peer = what;
  state.peerLocal = what === "lost" && local;
  const box = node("peer-status");
  const words = {
    lost: "clinician.patient_lost",
    left: "clinician.patient_left",
    back: "clinician.patient_back",
    waiting: "clinician.patient_waiting_return",
  };
  box.hidden = !what;
  box.textContent = what ? t(words[what], { name: name() }) : "";
  node("peer-admit").hidden = what !== "back";
  node("peer-keep-waiting").hidden = what !== "left";
  node("peer-end").hidden = what !== "left" && what !== "waiting";
  node("peer-actions").hidden = !["left", "back", "waiting"].includes(what);
  if (what === "lost" || what === "left") quality(t("clinician.quality_lost"), true);
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

function closeLink() {
  if (state.link) state.link.close();
  Object.assign(state, { link: null, meter: null, flowing: false, stalls: 0 });
}

function toCallScreen() {
  if (node("screen-call").hidden) show("screen-call");
}

/** A fresh link to `participant`, and the offer (the clinician always offers). */
async function callWith(participant) {
  const stream = await media();
  toCallScreen();
  state.patient = participant;
  node("self-video").srcObject = stream;
  closeLink();
  state.link = new PeerLink(state.signal, participant, rtcConfiguration(state.iceServers, { device: false }), stream, {
    onTrack: (remote) => {
      node("remote-video").srcObject = remote;
    },
    onState: (connection) => {
      if (connection === "failed" || connection === "disconnected") peer("lost", { local: true });
      else if (connection === "connected" && state.peerLocal) peer(null);
    },
  });
  state.meter = new QualityMeter(state.link.pc);
  clearInterval(state.sampleTimer);
  state.sampleTimer = setInterval(() => sample().catch(() => {}), SAMPLE_EVERY_MS);
  await state.link.offer();
}

async function sample() {
  if (!state.meter) return;
  const q = await state.meter.sample();
  window.tcLastQuality = q;
  if (q.bytes_received > 0) state.flowing = true;
  state.stalls = q.stalled && state.flowing ? state.stalls + 1 : 0;
  if (state.stalls >= STALLED_SAMPLES && state.signal && state.signal.online) peer("lost", { local: true });
  else if (!q.stalled && state.peer === "lost" && state.peerLocal) peer(null);
  const online = Boolean(state.signal && state.signal.online);
  if (!online || state.stalls > 0) quality(t("clinician.quality_lost"), true);
  else if (state.peer !== "lost" && state.peer !== "left") {
    if (q.loss_pct > POOR_LOSS_PCT) quality(t("clinician.quality_poor", { loss: q.loss_pct }), true);
    else quality(t("clinician.quality_good"), false);
  }
  // The indicator updates every sample; the audit log gets one report in ten.
  state.samples += 1;
  if (state.samples % REPORT_EVERY !== 1) return;
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

// -------------------------------------------------------------- messages

function arrived(member) {
  state.waiting.arrived(member);
  state.desk.arrival(state.current);
  if (state.admitOnArrival === member.participant) {
    state.admitOnArrival = null;
    admit(member.participant);
  } else if (!node("screen-call").hidden) {
    peer("back");
  }
}

/** A room snapshot: after a join (`fresh`, a new page or a new link), or in a resume's welcome. */
async function onRoom(room, { fresh = true } = {}) {
  clearTimeout(state.answerTimer);
  if (room.ice_servers) state.iceServers = room.ice_servers;
  if (room.state === "ended") {
    finish();
    return;
  }
  const patient = (room.members || []).find((m) => m.role === "patient");
  state.waiting.fromRoom(room);
  if (patient && patient.status === "waiting" && state.admitOnArrival === patient.participant) {
    state.admitOnArrival = null;
    admit(patient.participant);
    return;
  }
  if (patient && patient.admitted && patient.status === "present") {
    // Resumed on the same page, the link stays: an ICE restart follows (`ice_restart`).
    if (!fresh && state.link && state.link.remote === patient.participant) return;
    // Back on a fresh page, or the patient came back: start the media from scratch.
    await callWith(patient.participant);
  } else if (patient && patient.admitted && patient.status === "away") {
    state.patient = patient.participant;
    toCallScreen();
    peer("lost");
  }
}

async function onMessage(message) {
  const status = node("call-status");
  switch (message.type) {
    case "room":
      return onRoom(message);
    case "arrived":
      return arrived(message);
    case "joined":
      if (message.role !== "patient") return undefined;
      state.waiting.remove(message.participant);
      peer(null);
      return callWith(message.participant);
    case "answer":
    case "candidate":
    case "offer":
      if (state.link && message.from === state.link.remote) await state.link.handle(message);
      return undefined;
    case "ice_restart":
      // The same page on a new connection: restart ICE on the link, or start one.
      if (state.link && state.link.remote === message.from) return state.link.offer({ iceRestart: true });
      return callWith(message.from);
    case "away":
      if (state.waiting.mark(message.participant, true)) return undefined;
      peer("lost");
      return undefined;
    case "reconnected":
      if (state.waiting.mark(message.participant, false)) return undefined;
      if (state.peer === "lost") peer(null);
      status.textContent = t("clinician.patient_reconnected", { name: name() });
      return undefined;
    case "left":
      state.waiting.remove(message.participant);
      if (message.participant === state.patient || !node("screen-call").hidden) {
        closeLink();
        peer("left");
      }
      return undefined;
    case "ended":
      return finish();
    case "error":
      return onError(message);
    default:
      return undefined;
  }
}

function onError(message) {
  clearTimeout(state.answerTimer);
  const box = node("call-status");
  switch (message.code) {
    case "join_refused":
    case "room_ended":
      state.desk.problem(t(message.reason === "too_early" ? "clinician.too_early" : "clinician.not_open"));
      return close();
    case "resume_failed":
      if (message.reason === "ended") return finish();
      return join();
    case "not_waiting":
      box.textContent = t("clinician.not_waiting");
      return undefined;
    case "not_in_room":
      return join();
    case "already_in_room":
    case "not_a_member":
    case "not_admitted":
      return undefined;
    default:
      box.textContent = t("consult.refused_other");
      return undefined;
  }
}

function join() {
  state.signal.send({ type: "join", appointment: state.current });
  clearTimeout(state.answerTimer);
  state.answerTimer = setTimeout(() => {
    state.desk.problem(t("consult.no_answer"));
  }, ANSWER_WITHIN_MS);
}

function watch(signal) {
  const status = node("call-status");
  signal.addEventListener("message", (event) => {
    if (signal !== state.signal) return;
    onMessage(event.detail).catch(() => {});
  });
  signal.addEventListener("down", () => {
    status.textContent = t("consult.reconnecting");
    if (state.peerLocal) peer(null);
    if (state.link) quality(t("clinician.quality_lost"), true);
  });
  signal.addEventListener("up", (event) => {
    status.textContent = t("consult.reconnected");
    if (event.detail.resumed && event.detail.room) onRoom(event.detail.room, { fresh: false }).catch(() => {});
  });
  signal.addEventListener("closed", (event) => {
    state.desk.problem(closeWords(event.detail.code, t));
    close();
  });
  signal.addEventListener("signedout", () => {
    close();
    window.location.reload();
  });
}

// -------------------------------------------------------------- open, end

/** Stops everything of the consult open now; shows the list unless told not to. */
function close({ toList = true } = {}) {
  clearInterval(state.sampleTimer);
  clearTimeout(state.answerTimer);
  closeLink();
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  if (state.signal) state.signal.close();
  state.signal = null;
  node("arrival-alert").hidden = true;
  state.waiting.clear();
  // The open consult's waiting room means nothing with no consult open: the list of
  // everyone waiting, above it, says who is.
  node("waiting-open").hidden = true;
  peer(null);
  if (toList) show("screen-list");
}

function finish() {
  const appointment = state.current;
  close();
  state.desk.outcome(appointment, { live: false });
}

async function open(appointmentId, { admit: admitting = null } = {}) {
  if (state.signal) close();
  state.current = appointmentId;
  state.waiting.clear();
  node("waiting-open").hidden = false;
  state.admitOnArrival = admitting;
  peer(null);
  node("call-status").textContent = "";
  const signal = new Signal();
  state.signal = signal;
  watch(signal);
  const welcome = await signal.open();
  state.iceServers = welcome.ice_servers || [];
  join();
  node("call-heading").textContent = state.desk.heading(appointmentId);
  const identity = state.desk.identity(appointmentId);
  node("call-identity").replaceChildren(...(identity ? [identity] : []));
}

/** Ends a consult that is still open (from the list, or with its outcome). */
async function end(appointmentId, reason) {
  if (state.current === appointmentId && state.signal) {
    state.signal.send({ type: "end", reason });
    close({ toList: false });
    return;
  }
  const signal = new Signal();
  try {
    await signal.open();
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ANSWER_WITHIN_MS);
      signal.addEventListener("message", (event) => {
        const message = event.detail;
        if (message.type === "room" && message.state !== "ended") {
          signal.send({ type: "end", reason });
        } else if (["ended", "error", "room"].includes(message.type)) {
          clearTimeout(timer);
          resolve();
        }
      });
      signal.send({ type: "join", appointment: appointmentId });
    });
  } finally {
    signal.close();
  }
}

function setup(desk) {
  state.desk = desk;
  const waiting = node("waiting");
  state.waiting = new WaitingRoom(waiting, () => (state.current ? name() : t("clinician.col_patient")));
  waiting.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-admit]");
    if (button) admit(button.dataset.admit);
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
  node("peer-admit").addEventListener("click", () => {
    const member = state.waiting.first();
    if (member) admit(member.participant);
  });
  node("peer-keep-waiting").addEventListener("click", () => peer("waiting"));
  node("peer-end").addEventListener("click", () => {
    const appointment = state.current;
    if (state.signal) state.signal.send({ type: "end", reason: "other" });
    close();
    state.desk.outcome(appointment, { live: false });
  });
  node("end-call").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "end", reason: "completed" });
  });
  setupControls(
    {
      getAudioTracks: () => (state.stream ? state.stream.getAudioTracks() : []),
      getVideoTracks: () => (state.stream ? state.stream.getVideoTracks() : []),
    },
    () => state.link,
    t,
  );
}

export const call = {
  setup,
  open,
  end,
  close,
  current: () => (state.signal ? state.current : null),
};
