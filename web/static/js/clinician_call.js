// The clinician in one consult: its signalling connection, its waiting room, admit, the call
// with a live quality indicator, and the patient coming and going. Opened from the list
// (clinician_desk.js) to start, rejoin or admit; a fresh page, a dropped link or a patient
// who left and came back each lead back into the call, said in words on the way.

import { el, show, t } from "./common.js";
import {
  LADDER,
  Ladder,
  PeerLink,
  QualityMeter,
  rtcConfiguration,
  sendVideo,
  setupControls,
  showMode,
} from "./call.js";
import { WaitingRoom } from "./clinician_waiting.js";
import { contextBlock, refreshContext } from "./clinician_context.js";
import { notes } from "./clinician_notes.js";
import { Signal, closeWords } from "./signal.js";
import { Mesh } from "./mesh.js";
import { OFF_WORDS, RecorderLink } from "./recording.js";

const POOR_LOSS_PCT = 10;
const SAMPLE_EVERY_MS = 1000;
const REPORT_EVERY = 2;
const THEIRS_STALE_MS = 6000;
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
  mode: "video",
  videoRequired: false,
  ladder: new Ladder(),
  offerTimer: null,
  offered: null,
  failedCause: null,
  theirs: null,
  lastBad: false,
  me: null,
  mesh: null,
  others: new Map(),
  identityConfirmed: false,
  recording: "off",
  recorder: null,
};

// ------------------------------------------------ third parties (mesh.js)

const THIRD = new Set(["interpreter", "chaperone", "officer"]);

function isThird(participant) {
  return state.others.has(participant);
}

function renderOthers() {
  const list = node("third-party-list");
  const items = [...state.others.entries()].map(([participant, m]) => {
    const role = t(`consult.role_${m.role}`);
    const key = m.on_hold ? "clinician.tp_on_hold" : m.status === "waiting" ? "clinician.tp_waiting" : m.status === "away" ? "clinician.tp_away" : "clinician.tp_present";
    const buttons = [];
    if (m.status === "waiting" && !m.admitted) {
      buttons.push(el("button", { type: "button", class: "button primary", "data-admit-other": participant, text: `${t("clinician.admit")}: ${role}` }));
    }
    if (m.on_hold) {
      buttons.push(el("button", { type: "button", class: "button secondary", "data-bring-back": participant, text: `${t("clinician.bring_back")}: ${role}` }));
    }
    return el("li", { "data-participant": participant, "data-role": m.role }, el("p", { text: t(key, { role }) }), ...buttons);
  });
  list.replaceChildren(...items);
  node("third-parties").hidden = items.length === 0;
  const officerIn = [...state.others.values()].some((m) => m.role === "officer" && m.admitted && !m.on_hold);
  node("confirm-identity").hidden = state.identityConfirmed || !officerIn;
}

function other(participant, change) {
  const m = state.others.get(participant);
  if (m) Object.assign(m, change);
  renderOthers();
}

function meshFor() {
  if (!state.mesh) {
    state.mesh = new Mesh(state.signal, {
      me: { participant: state.me, role: "clinician" },
      stream: media,
      ice: () => state.iceServers,
      tiles: node("call-tiles"),
      label: (role) => t(`consult.role_${role}`),
      primary: (participant) => participant === state.patient,
    });
    window.tcMesh = state.mesh;
  }
  return state.mesh;
}

/** A message about a third party; true if it was one (the patient's code is left alone). */
async function onOther(message) {
  const who = message.participant;
  if (message.type === "arrived" && THIRD.has(message.role)) {
    state.others.set(who, { role: message.role, status: "waiting", admitted: false, on_hold: false });
    renderOthers();
    return true;
  }
  if (!who || !isThird(who)) return false;
  switch (message.type) {
    case "joined":
      other(who, { status: "present", admitted: true, on_hold: false });
      toCallScreen();
      await meshFor().joined({ participant: who, role: state.others.get(who).role });
      return true;
    case "on_hold":
      other(who, { on_hold: true });
      state.identityConfirmed = true;
      meshFor().drop(who);
      renderOthers();
      return true;
    case "away":
      other(who, { status: "away" });
      return true;
    case "reconnected":
      other(who, { status: state.others.get(who).admitted ? "present" : "waiting" });
      return true;
    case "left":
      state.others.delete(who);
      meshFor().drop(who);
      renderOthers();
      return true;
    default:
      return false;
  }
}

function othersFromRoom(room) {
  state.identityConfirmed = Boolean(room.identity_confirmed);
  for (const m of room.members || []) {
    if (!THIRD.has(m.role)) continue;
    state.others.set(m.participant, { role: m.role, status: m.status, admitted: m.admitted, on_hold: m.on_hold });
  }
  renderOthers();
}

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

function direction(q) {
  return t("clinician.quality_numbers", {
    kbps: Math.round(q.bitrate_kbps),
    loss: Math.round(q.loss_pct * 10) / 10,
    rtt: Math.round(q.rtt_ms),
  });
}

/** The device's latest report, if it is recent enough to say how the link is now. */
function theirsNow() {
  return state.theirs && performance.now() - state.theirs.at < THEIRS_STALE_MS ? state.theirs : null;
}

/**
 * Both directions of the link, live: what this page receives from the patient, and what the
 * patient's device says it receives (its `quality` reports, relayed by the server). An alert
 * when either loses more than 10% of its packets, or the media stops.
 */
function showDirections(mine, stalled) {
  const theirs = theirsNow();
  node("quality-from").textContent = t("clinician.quality_from", { numbers: direction(mine) });
  node("quality-to").textContent = t("clinician.quality_to", {
    numbers: theirs ? direction(theirs) : t("clinician.quality_no_report"),
  });
  let alert = null;
  if (stalled) alert = t("clinician.quality_alert_drop", { name: name() });
  else if (mine.loss_pct > LADDER.LOSS_PCT) {
    alert = t("clinician.quality_alert_from", { name: name(), loss: mine.loss_pct });
  } else if (theirs && theirs.loss_pct > LADDER.LOSS_PCT) {
    alert = t("clinician.quality_alert_to", { name: name(), loss: theirs.loss_pct });
  }
  const box = node("quality-alert");
  box.hidden = !alert;
  if (alert && box.textContent !== alert) box.textContent = alert;
}

// ------------------------------------------------------- the fallback ladder

/** The mode the call is in has failed (`cause`): the next step of the ladder. */
function ladderFailed(cause) {
  if (state.mode === "video" && !state.videoRequired) {
    if (!state.offered) state.signal.send({ type: "mode_offer", cause });
  } else if (state.mode !== "call_back") {
    offerCallBack(cause);
  }
}

function offerCallBack(cause) {
  state.failedCause = cause;
  const box = node("call-back-choice");
  node("call-back-text").textContent = t(
    state.mode === "video" ? "clinician.call_back_video_required" : "clinician.call_back_offer",
    { name: name() },
  );
  box.hidden = false;
}

function offered(message) {
  if (state.mode !== "video") return;
  state.offered = message.cause;
  node("mode-offer-text").textContent = t("consult.mode_offer", { n: message.switch_in_s });
  node("mode-offer").hidden = false;
  clearTimeout(state.offerTimer);
  // The clinician's page moves the call when the time is up, unless someone did already.
  state.offerTimer = setTimeout(() => {
    // Moved only if the link is still failing: an offer replayed after a resume, or a link
    // that came back meanwhile, changes nothing.
    if (state.signal && state.mode === "video" && state.lastBad) {
      state.signal.send({ type: "mode", mode: "audio", cause: message.cause });
    } else {
      state.offered = null;
      node("mode-offer").hidden = true;
    }
  }, message.switch_in_s * 1000);
}

function chooseMode(mode, cause = "chosen") {
  if (state.signal) state.signal.send({ type: "mode", mode, cause });
}

/** The server's `mode` (or a room snapshot's): both pages follow it. */
async function applyMode(mode, cause) {
  state.mode = mode || "video";
  clearTimeout(state.offerTimer);
  state.offered = null;
  state.ladder.reset();
  node("mode-offer").hidden = true;
  showMode(state.mode, { videoRequired: state.videoRequired }, t);
  const status = node("mode-status");
  status.hidden = state.mode === "video";
  if (state.mode === "audio") {
    status.textContent = t(cause === "chosen" ? "consult.mode_audio_chosen" : "consult.mode_audio_auto");
  }
  node("screen-call").classList.toggle("calling-back", state.mode === "call_back");
  if (state.mode === "call_back") {
    peer(null);
    node("call-back-choice").hidden = true;
    status.textContent = t("clinician.call_back_requested", { name: name() });
    node("call-back-actions").hidden = false;
    clearInterval(state.sampleTimer);
    closeLink();
    // The call goes by phone now: the camera and microphone are let go.
    if (state.stream) for (const track of state.stream.getTracks()) track.stop();
    state.stream = null;
    node("quality-alert").hidden = true;
    return;
  }
  node("call-back-actions").hidden = true;
  if (state.mode === "video") node("call-back-choice").hidden = true;
  if (state.stream) await sendVideo(state.link, state.stream, state.mode === "video");
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

function closeOthers() {
  if (state.mesh) state.mesh.closeAll();
  state.mesh = null;
  state.others.clear();
  state.identityConfirmed = false;
  renderOthers();
}

function toCallScreen() {
  if (node("screen-call").hidden) show("screen-call");
}

/** A fresh link to `participant`, and the offer (the clinician always offers). */
async function callWith(participant) {
  if (state.mode === "call_back") return;
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
      if (connection === "connected") state.ladder.restarted = false;
      if (connection !== "failed" || !state.link || !state.signal || !state.signal.online) return;
      // ICE failed: restart it once; failing again after the restart is the ladder's next step.
      if (!state.ladder.restarted) {
        state.ladder.restarted = true;
        state.link.offer({ iceRestart: true }).catch(() => {});
      } else {
        ladderFailed("ice_failed");
      }
    },
  });
  if (state.mode !== "video") await sendVideo(state.link, stream, false);
  state.meter = new QualityMeter(state.link.pc);
  window.tcMainPc = state.link.pc;
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
    // The worse of the two directions: what comes in here, and what the device says it gets.
    const theirs = theirsNow();
    const loss = Math.round(10 * Math.max(q.loss_pct, theirs ? theirs.loss_pct : 0)) / 10;
    if (loss > POOR_LOSS_PCT) quality(t("clinician.quality_poor", { loss }), true);
    else quality(t("clinician.quality_good"), false);
  }
  showDirections(q, state.flowing && state.stalls >= STALLED_SAMPLES);
  // Only a link that is up, with media that has flowed, to a patient who has not simply
  // dropped (the server said `away`), tells the ladder anything.
  // The patient's own reports arriving say its page is still on signalling: media failing
  // while both sides can still talk to the server is a failing link; a patient whose reports
  // stopped too has dropped, and comes back by itself (docs/signalling.md, "Coming back").
  const dropped = (state.peer === "lost" && !state.peerLocal) || state.peer === "left" || !theirsNow();
  const cause = state.ladder.step(q, state.mode, online && state.flowing && !dropped);
  state.lastBad = state.ladder.bad > 0 || Boolean(cause);
  if (cause) ladderFailed(cause);
  // The other side sees a report every two samples; the server logs one in ten seconds.
  state.samples += 1;
  if (state.samples % REPORT_EVERY !== 0) return;
  const report = state.meter.report();
  if (report) state.signal.send(report);
}

// ------------------------------------------------------------- recording

/** The room's recording state (a `recording` message, or a snapshot's), shown and acted on. */
function showRecording(recording, reason = null) {
  const was = state.recording;
  state.recording = (recording && recording.state) || "off";
  const on = state.recording === "on";
  node("recording-on").hidden = !on;
  node("record-start").hidden = state.recording !== "off";
  node("record-stop").hidden = state.recording === "off";
  const status = node("recording-status");
  let words = null;
  if (state.recording === "asking") words = t("recording.asking", { name: name() });
  else if (state.recording === "off" && reason && OFF_WORDS[reason]) words = t(OFF_WORDS[reason]);
  status.hidden = !words;
  status.textContent = words || "";
  // While it records, this page's media goes to the recorder too; a fresh page offers again.
  if (on && (was !== "on" || !state.recorder || !state.recorder.pc)) offerToRecorder();
  if (!on && state.recorder) {
    state.recorder.close();
    state.recorder = null;
  }
}

async function offerToRecorder() {
  if (!state.signal || state.mode === "call_back") return;
  const stream = await media();
  if (!state.recorder) state.recorder = new RecorderLink(state.signal, rtcConfiguration(state.iceServers, { device: false }));
  await state.recorder.open(stream);
}

function recordingRefused(reason) {
  const key = {
    no_consent: "recording.refused_no_consent",
    declined: "recording.refused_declined",
    withdrawn: "recording.refused_withdrawn",
    not_in_call: "recording.refused_not_in_call",
  }[reason];
  const status = node("recording-status");
  status.textContent = t(key || "recording.refused_other");
  status.hidden = false;
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
  state.videoRequired = Boolean(room.video_required);
  node("video-required-note").hidden = !state.videoRequired;
  if (room.recording) showRecording(room.recording);
  showMode(state.mode, { videoRequired: state.videoRequired }, t);
  if ((room.mode || "video") !== state.mode || room.mode === "call_back") {
    toCallScreen();
    await applyMode(room.mode, "chosen");
  }
  if (state.mode === "call_back") return;
  const patient = (room.members || []).find((m) => m.role === "patient");
  othersFromRoom(room);
  if (fresh) {
    for (const m of room.members || []) {
      if (THIRD.has(m.role) && m.admitted && m.status === "present" && !m.on_hold) {
        toCallScreen();
        await meshFor().joined(m);
      }
    }
  }
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
  if (await onOther(message)) return undefined;
  if (["offer", "answer", "candidate"].includes(message.type) && isThird(message.from)) {
    await meshFor().handle(message);
    return undefined;
  }
  if (message.type === "ice_restart" && isThird(message.from)) {
    const link = meshFor().links.get(message.from);
    if (link) return link.offer({ iceRestart: true });
    return meshFor().joined({ participant: message.from, role: state.others.get(message.from).role });
  }
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
    case "mode_offered":
      return offered(message);
    case "mode":
      return applyMode(message.mode, message.cause);
    case "quality":
      state.theirs = { ...message, at: performance.now() };
      return undefined;
    case "recording":
      return showRecording(message, message.reason || null);
    case "recorder_answer":
      if (state.recorder) await state.recorder.answer(message.sdp);
      return undefined;
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
    case "video_required":
      // No sound-only step for this consult: the choice left is a call-back.
      return offerCallBack(state.failedCause || "low_bitrate");
    case "not_in_room":
      return join();
    case "recording_refused":
      return recordingRefused(message.reason);
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
  closeOthers();
  showRecording(null);
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  if (state.signal) state.signal.close();
  state.signal = null;
  notes.close().catch(() => {});
  node("arrival-alert").hidden = true;
  state.waiting.clear();
  // The open consult's waiting room means nothing with no consult open: the list of
  // everyone waiting, above it, says who is.
  node("waiting-open").hidden = true;
  peer(null);
  clearTimeout(state.offerTimer);
  Object.assign(state, { mode: "video", videoRequired: false, offered: null, failedCause: null, theirs: null });
  state.ladder = new Ladder();
  for (const id of ["mode-offer", "mode-status", "call-back-choice", "call-back-actions", "quality-alert"]) {
    node(id).hidden = true;
  }
  showMode("video", {}, t);
  node("screen-call").classList.remove("calling-back");
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
  state.me = welcome.participant;
  join();
  node("call-heading").textContent = state.desk.heading(appointmentId);
  const identity = state.desk.identity(appointmentId);
  node("call-identity").replaceChildren(...(identity ? [identity] : []));
  refreshContext(appointmentId);
  node("call-context").replaceChildren(contextBlock(appointmentId));
  await notes.open(appointmentId);
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
  notes.setup();
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
  node("third-party-list").addEventListener("click", (event) => {
    const admitting = event.target.closest("button[data-admit-other]");
    if (admitting && state.signal) state.signal.send({ type: "admit", participant: admitting.dataset.admitOther });
    const back = event.target.closest("button[data-bring-back]");
    if (back && state.signal) state.signal.send({ type: "bring_back", participant: back.dataset.bringBack });
  });
  node("confirm-identity").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "confirm_identity" });
  });
  node("peer-end").addEventListener("click", () => {
    const appointment = state.current;
    if (state.signal) state.signal.send({ type: "end", reason: "other" });
    close();
    state.desk.outcome(appointment, { live: false });
  });
  node("record-start").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "record_start" });
  });
  node("record-stop").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "record_stop" });
  });
  node("end-call").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "end", reason: "completed" });
  });
  setupControls(
    {
      getAudioTracks: () => (state.stream ? state.stream.getAudioTracks() : []),
      getVideoTracks: () => (state.stream ? state.stream.getVideoTracks() : []),
    },
    (mode) => chooseMode(mode),
    t,
  );
  node("mode-offer-now").addEventListener("click", () => chooseMode("audio", state.offered || "chosen"));
  node("call-back").addEventListener("click", () => {
    if (state.signal) state.signal.send({ type: "call_back", cause: state.failedCause || "chosen" });
  });
  node("call-back-outcome").addEventListener("click", () => {
    const appointment = state.current;
    close({ toList: false });
    state.desk.outcome(appointment, { live: true });
  });
}

export const call = {
  setup,
  open,
  end,
  close,
  current: () => (state.signal ? state.current : null),
};
