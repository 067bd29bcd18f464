// The device in a consult once its check is done: the waiting room, the call, the health
// worker coming and going, leaving and joining again, and every answer the server can give,
// each said in plain words with a way forward. Nothing here waits silently: a join that gets
// no answer, a state it does not know, a refusal or a closed connection all say so.

import { el, serverNow, t } from "./common.js";
import { Ladder, PeerLink, QualityMeter, rtcConfiguration, sendVideo, setupControls, showMode } from "./call.js";
import { forget, remember } from "./consult_memory.js";
import { closeWords } from "./signal.js";
import { Mesh } from "./mesh.js";
import { RecorderLink } from "./recording.js";
import { Upstream } from "./upstream.js";

const NO_SHOW_AFTER_MS = 10 * 60 * 1000;
const SAMPLE_EVERY_MS = 1000;
const REPORT_EVERY = 2;
const STALLED_SAMPLES = 2;
const ANSWER_WITHIN_MS = 10000;
const REFUSALS = {
  no_consent: "error.consent_required",
  too_early: "error.too_early",
  too_late: "error.too_late",
  not_booked: "consult.not_booked",
  not_found: "error.not_found",
  not_your_appointment: "error.not_found",
  wrong_device: "error.device_not_allowed",
  forbidden_role: "error.forbidden",
  room_ended: "consult.ended",
};

let s = null;
const live = {
  where: null,
  link: null,
  meter: null,
  peer: null,
  peerLocal: false,
  flowing: false,
  stalls: 0,
  samples: 0,
  sampleTimer: null,
  noShowTimer: null,
  answerTimer: null,
  mode: "video",
  videoRequired: false,
  ladder: new Ladder(),
  offered: null,
  offerTimer: null,
  theirsAt: null,
  recording: "off",
  recorder: null,
  // Every link's share of the device's upstream: the health worker's, the third parties', the recorder's.
  upstream: new Upstream(),
};

const THEIRS_STALE_MS = 6000;

function node(id) {
  return document.getElementById(id);
}

// ------------------------------------------------------------------ steps

function at(where, stepId) {
  live.where = where;
  node("screen-consult").classList.toggle("in-call", where === "call");
  s.step(stepId);
}

function halt(text, { retry = null, retryLabel = null } = {}) {
  stopMedia();
  clearTimeout(live.answerTimer);
  node("ended-text").textContent = text;
  const button = node("ended-retry");
  button.hidden = !retry;
  button.textContent = retryLabel || t("consult.try_again");
  button.onclick = retry;
  at("ended", "step-ended");
}

function finish(text) {
  forget();
  halt(text);
  s.signal.close();
}

function stopMedia() {
  clearInterval(live.sampleTimer);
  clearTimeout(live.noShowTimer);
  closeLink();
  if (live.recorder) live.recorder.close();
  live.recorder = null;
  hideLeaveConfirm();
}

function closeLink() {
  if (live.link) {
    live.link.close();
    live.upstream.remove("main", live.link.pc);
  }
  Object.assign(live, { link: null, meter: null, flowing: false, stalls: 0 });
  if (live.mesh) live.mesh.closeAll();
}

// ----------------------------------------------------- third parties (mesh.js)

function meshFor() {
  if (!live.mesh) {
    live.mesh = new Mesh(s.signal, {
      me: { participant: s.self, role: "patient" },
      stream: async () => s.stream,
      ice: () => s.iceServers,
      device: true,
      relayOnly: s.relayOnly,
      tiles: node("call-tiles"),
      label: (role) => t(`consult.role_${role}`),
      primary: (participant) => participant === live.clinician,
      upstream: live.upstream,
    });
    window.tcMesh = live.mesh;
    window.tcUpstream = live.upstream;
  }
  return live.mesh;
}

function knowMembers(members) {
  const clinician = (members || []).find((m) => m.role === "clinician");
  if (clinician) live.clinician = clinician.participant;
  meshFor().know(members);
}

// ------------------------------------------------------------ the answer

function join() {
  remember(s.appointment, { check: s.check, mode: s.mode, left: false });
  s.signal.send({ type: "join", appointment: s.appointment, check: s.check });
  expectAnswer();
}

function expectAnswer() {
  clearTimeout(live.answerTimer);
  live.answerTimer = setTimeout(() => {
    halt(t("consult.no_answer"), { retry: () => s.restart() });
  }, ANSWER_WITHIN_MS);
}

function answered() {
  clearTimeout(live.answerTimer);
}

// ---------------------------------------------------------------- waiting

function showWaiting(message) {
  answered();
  closeLink();
  clearInterval(live.sampleTimer);
  if (live.where !== "waiting") at("waiting", "step-waiting");
  if (message && message.position) node("waiting-position").textContent = t("consult.position", { n: message.position });
  if (message && typeof message.estimate_s === "number") {
    node("waiting-estimate").textContent = t("consult.estimate", { n: Math.max(1, Math.round(message.estimate_s / 60)) });
  }
  clearTimeout(live.noShowTimer);
  const late = s.startsAt + NO_SHOW_AFTER_MS - serverNow();
  live.noShowTimer = setTimeout(() => {
    node("waiting-no-show").hidden = false;
  }, Math.max(0, late));
}

function showNotice(message) {
  node("waiting-messages").append(el("p", {}, el("strong", { text: t("consult.message_from") }), " ", message.text));
  // In the call the waiting room is hidden: the status line carries the message too.
  if (live.where === "call") s.say(`${t("consult.message_from")} ${message.text}`);
}

// ------------------------------------------------------------------- call

function startCall() {
  clearTimeout(live.noShowTimer);
  if (live.where === "call") return;
  at("call", "step-call");
  peer(null);
  node("self-video").srcObject = s.stream;
  clearInterval(live.sampleTimer);
  live.sampleTimer = setInterval(() => sample().catch(() => {}), SAMPLE_EVERY_MS);
}

// ------------------------------------------------------ the fallback ladder

function chooseMode(mode, cause = "chosen") {
  s.signal.send({ type: "mode", mode, cause });
}

function offered(message) {
  if (live.mode !== "video") return;
  live.offered = message.cause;
  node("mode-offer-text").textContent = t("consult.mode_offer", { n: message.switch_in_s });
  node("mode-offer").hidden = false;
  // The health worker's page moves the call; if it does not (the link came back), the offer goes.
  clearTimeout(live.offerTimer);
  live.offerTimer = setTimeout(() => {
    if (live.mode !== "video") return;
    live.offered = null;
    node("mode-offer").hidden = true;
  }, (message.switch_in_s + 5) * 1000);
}

/** The server's `mode` (or a room snapshot's): the health worker's page follows it too. */
async function applyMode(mode, cause) {
  live.mode = mode || "video";
  live.offered = null;
  clearTimeout(live.offerTimer);
  live.ladder.reset();
  node("mode-offer").hidden = true;
  showMode(live.mode, { videoRequired: live.videoRequired }, t);
  const status = node("call-mode");
  status.hidden = live.mode !== "audio";
  if (live.mode === "audio") {
    status.textContent = t(cause === "chosen" ? "consult.mode_audio_chosen" : "consult.mode_audio_auto");
  }
  if (live.mode === "call_back") {
    stopMedia();
    at("call-back", "step-call-back");
    return;
  }
  await sendVideo(live.link, s.stream, live.mode === "video");
}

function ensureLink(remote) {
  if (live.link && live.link.remote === remote) return live.link;
  closeLink();
  live.link = new PeerLink(
    s.signal,
    remote,
    rtcConfiguration(s.iceServers, { device: true, relayOnly: s.relayOnly }),
    s.stream,
    {
      onTrack: (stream) => {
        node("remote-video").srcObject = stream;
      },
      onState: (state) => {
        if (state === "failed" || state === "disconnected") peer("lost", { local: true });
        else if (state === "connected" && live.peerLocal) peer(null);
      },
    },
  );
  if (live.mode !== "video") sendVideo(live.link, s.stream, false).catch(() => {});
  // Four people and the recorder: this link gets the most of the device's upstream (upstream.js).
  live.upstream.set("main", "main", live.link.pc);
  live.meter = new QualityMeter(live.link.pc);
  window.tcMainPc = live.link.pc;
  return live.link;
}

async function negotiate(message) {
  if (message.type === "offer" && live.where !== "call") startCall();
  // A third party's negotiation is the mesh's, even a late one for a link it has dropped: it
  // must never replace the link to the health worker (which closed every link on the page).
  if (live.clinician && message.from !== live.clinician) {
    await meshFor().handle(message);
    return;
  }
  try {
    await ensureLink(message.from).handle(message);
  } catch {
    // An offer from a fresh page of the other side cannot go on the old link: start anew.
    if (message.type !== "offer") return;
    closeLink();
    await ensureLink(message.from).handle(message);
  }
}

/** What the other side is doing, in words: null, "lost" or "left". */
function peer(what, { local = false } = {}) {
  if (what === "lost" && live.peer === "left") return;
  live.peer = what;
  live.peerLocal = what === "lost" && local;
  const box = node("call-peer");
  box.hidden = !what;
  box.textContent = what === "lost" ? t("consult.clinician_lost") : what === "left" ? t("consult.clinician_left") : "";
  node("call-peer-actions").hidden = what !== "left";
}

async function sample() {
  if (!live.meter) return;
  const q = await live.meter.sample();
  // The browser tests read the last sample; support staff can too, from the console.
  window.tcLastQuality = q;
  if (q.bytes_received > 0) live.flowing = true;
  live.stalls = q.stalled && live.flowing ? live.stalls + 1 : 0;
  if (live.stalls >= STALLED_SAMPLES && s.signal.online) peer("lost", { local: true });
  else if (!q.stalled && live.peer === "lost" && live.peerLocal) peer(null);
  // The video failing offers sound only to both sides; what comes after is the health
  // worker's choice (its page measures too).
  // The health worker's reports arriving say its page is still on signalling (see the
  // clinician's page): without them, this is a drop, and recovery's business.
  const fresh = live.theirsAt !== null && performance.now() - live.theirsAt < THEIRS_STALE_MS;
  const dropped = (live.peer === "lost" && !live.peerLocal) || live.peer === "left" || !fresh;
  const cause = live.ladder.step(q, live.mode, s.signal.online && live.flowing && !dropped);
  if (cause && live.mode === "video" && !live.videoRequired && !live.offered) {
    s.signal.send({ type: "mode_offer", cause });
  }
  // Every two samples the health worker sees what this side receives; the server logs fewer.
  live.samples += 1;
  if (live.samples % REPORT_EVERY !== 0) return;
  const report = live.meter.report();
  if (report) s.signal.send(report);
}

// ----------------------------------------------------------- leave, again

function askLeave(from) {
  const box = node("leave-confirm");
  box.dataset.from = from;
  if (!box.open) box.showModal();
  node("leave-no").focus();
}

function hideLeaveConfirm() {
  const box = node("leave-confirm");
  if (box.open) box.close();
}

function leave() {
  hideLeaveConfirm();
  s.signal.send({ type: "leave" });
  s.signal.forgetRoom();
  stopMedia();
  remember(s.appointment, { left: true });
  showLeft();
}

function showLeft() {
  stopMedia();
  at("left", "step-left");
}

// -------------------------------------------------------------- recording

const DEVICE_OFF_WORDS = {
  declined: "recording.device_off_declined",
  withdrawn: "recording.device_off_withdrawn",
  stopped: "recording.device_off_stopped",
  failed: "recording.device_off_failed",
};

/** The room's recording state: the question, the indicator, and this side's media to the recorder. */
function showRecording(recording, reason = null) {
  const was = live.recording;
  live.recording = (recording && recording.state) || "off";
  const asking = live.recording === "asking";
  const on = live.recording === "on";
  node("recording-ask").hidden = !asking;
  node("recording-on").hidden = !on;
  const status = node("recording-status");
  const words = live.recording === "off" && reason && DEVICE_OFF_WORDS[reason];
  status.hidden = !words;
  status.textContent = words ? t(words) : "";
  if (asking && was !== "asking") node("recording-yes").focus();
  if (on && (was !== "on" || !live.recorder || !live.recorder.pc)) offerToRecorder().catch(() => {});
  if (!on && live.recorder) {
    live.recorder.close();
    live.recorder = null;
  }
}

async function offerToRecorder() {
  if (!live.recorder) {
    live.recorder = new RecorderLink(s.signal, rtcConfiguration(s.iceServers, { device: true, relayOnly: s.relayOnly }), live.upstream);
  }
  await live.recorder.open(s.stream);
}

function answerRecording(decision) {
  node("recording-ask").hidden = true;
  s.signal.send({ type: "record_answer", decision, language: document.documentElement.lang === "cy" ? "cy" : "en" });
}

function withdrawRecording() {
  // Off on this screen at once; the server stops the recorder and tells everyone.
  if (live.recorder) live.recorder.close();
  live.recorder = null;
  node("recording-on").hidden = true;
  s.signal.send({ type: "record_withdraw" });
}

// --------------------------------------------------------------- messages

function onRoom(room) {
  answered();
  if (room.ice_servers) s.iceServers = room.ice_servers;
  if (typeof room.relay_only === "boolean") s.relayOnly = room.relay_only;
  if (room.state === "ended") return finish(t("consult.ended"));
  live.videoRequired = Boolean(room.video_required);
  showMode(live.mode, { videoRequired: live.videoRequired }, t);
  if (room.recording) showRecording(room.recording);
  if ((room.mode || "video") !== live.mode || room.mode === "call_back") {
    applyMode(room.mode, "chosen").catch(() => {});
    if (room.mode === "call_back") return undefined;
  }
  knowMembers(room.members);
  const you = room.you;
  const status = you ? you.status : null;
  // The server's `waiting` (the place in the queue) follows a join at once; wait for it.
  if (status === "waiting") return live.where === "waiting" ? undefined : expectAnswer();
  if ((status === "present" || status === "away") && you.admitted) {
    startCall();
    // Where the health worker is, for a page that has just come (back) into the call.
    const clinician = (room.members || []).find((m) => m.role === "clinician");
    if (!clinician) peer("left");
    else if (clinician.status === "away") peer("lost");
    return undefined;
  }
  if (status === "left") return showLeft();
  return halt(t("consult.unknown_state"), { retry: () => s.restart() });
}

function onError(message) {
  answered();
  switch (message.code) {
    case "join_refused":
      if (message.reason === "no_consent" || message.reason === "too_early") {
        return halt(t(REFUSALS[message.reason]), { retry: () => s.restart() });
      }
      return finish(t(REFUSALS[message.reason] || "error.not_in_window"));
    case "room_ended":
      return finish(t("consult.ended"));
    case "resume_failed":
      if (message.reason === "ended") return finish(t("consult.ended"));
      // Past the reclaim window: join again, into the waiting room.
      if (live.where !== "left") join();
      return undefined;
    case "not_in_room":
      if (live.where === "call" || live.where === "waiting") join();
      return undefined;
    case "already_in_room":
    case "not_admitted":
    case "not_a_member":
    case "video_required":
    case "recording_refused": // the room's `recording` state says what holds
      return undefined;
    case "rate_limited":
    case "unavailable":
      s.problem(t("error.unavailable"));
      return undefined;
    default:
      s.problem(t("consult.refused_other"));
      return undefined;
  }
}

async function onMessage(message) {
  // Who came, went or came back: the health worker, or a third party (mesh.js).
  if (message.role === "clinician") live.clinician = message.participant;
  const third = Boolean(message.participant) && message.participant !== s.self && message.participant !== live.clinician;
  if (third && ["joined", "away", "reconnected", "left", "on_hold"].includes(message.type)) {
    if (message.type === "joined") {
      meshFor().know([message]);
      meshFor().drop(message.participant);
    } else if (message.type === "left" || message.type === "on_hold") {
      meshFor().drop(message.participant);
    }
    return undefined;
  }
  const fromClinician = message.participant !== s.self;
  switch (message.type) {
    case "room":
      return onRoom(message);
    case "waiting":
      answered();
      return showWaiting(message);
    case "admitted":
      answered();
      knowMembers(message.participants);
      return startCall();
    case "joined":
      // The health worker is back on a fresh page: its old link is gone, a new offer follows.
      if (fromClinician) {
        closeLink();
        peer(null);
      }
      return undefined;
    case "away":
      if (fromClinician && live.where === "call") peer("lost");
      return undefined;
    case "reconnected":
      if (fromClinician && live.where === "call") peer(null);
      return undefined;
    case "left":
      if (fromClinician && live.where === "call") peer("left");
      return undefined;
    case "notice":
      return showNotice(message);
    case "mode_offered":
      return offered(message);
    case "mode":
      return applyMode(message.mode, message.cause);
    case "quality":
      live.theirsAt = performance.now();
      return undefined;
    case "recording":
      return showRecording(message, message.reason || null);
    case "recorder_answer":
      if (live.recorder) await live.recorder.answer(message.sdp);
      return undefined;
    case "offer":
    case "answer":
    case "candidate":
      return negotiate(message);
    case "ended":
      return finish(t(message.reason === "window_closed" ? "consult.ended_window" : "consult.ended"));
    case "error":
      return onError(message);
    default:
      // A newer server may send more: nothing to do for what this page does not know.
      return undefined;
  }
}

function watch(signal) {
  signal.addEventListener("message", (event) => {
    onMessage(event.detail).catch(() => s.problem(t("error.generic")));
  });
  signal.addEventListener("down", () => {
    s.say(t("consult.reconnecting"));
    if (live.peerLocal) peer(null);
  });
  signal.addEventListener("up", (event) => {
    s.say(t("consult.reconnected"));
    const welcome = event.detail;
    if (welcome.resumed && welcome.room) onRoom(welcome.room);
  });
  signal.addEventListener("closed", (event) => {
    const code = event.detail.code;
    halt(closeWords(code, t), {
      retry: () => s.restart(),
      retryLabel: code === 4003 ? t("consult.use_here") : t("consult.try_again"),
    });
  });
  signal.addEventListener("signedout", (event) => {
    stopMedia();
    // 4005-4009: the session was ended elsewhere (signed out, revoked, released), not timed out.
    const ended = event.detail && event.detail.code >= 4005 && event.detail.code <= 4009;
    window.dispatchEvent(new CustomEvent("tc:signedout", { detail: { ended } }));
  });
}

/** Hands the consult over from the check: `session` is device_consult.js's. */
export function enter(session) {
  s = session;
  Object.assign(live, {
    where: null,
    peer: null,
    peerLocal: false,
    samples: 0,
    mode: "video",
    offered: null,
    theirsAt: null,
    recording: "off",
  });
  live.ladder = new Ladder();
  watch(s.signal);
  setupControls(s.stream, (mode) => chooseMode(mode), t);
  node("mode-offer-now").onclick = () => chooseMode("audio", live.offered || "chosen");
  node("leave-call").onclick = () => askLeave("call");
  node("waiting-leave").onclick = () => askLeave("waiting");
  node("leave-yes").onclick = leave;
  node("leave-no").onclick = () => {
    const from = node("leave-confirm").dataset.from;
    hideLeaveConfirm();
    node(from === "waiting" ? "waiting-leave" : "leave-call").focus();
  };
  node("peer-wait").onclick = () => {
    node("call-peer-actions").hidden = true;
    node("call-peer").textContent = t("consult.waiting_for_clinician");
  };
  node("peer-leave").onclick = () => askLeave("call");
  node("join-again").onclick = join;
  node("recording-yes").onclick = () => answerRecording("given");
  node("recording-no").onclick = () => answerRecording("declined");
  node("recording-withdraw").onclick = withdrawRecording;
  if (s.left) showLeft();
  else join();
}

/** Stops the call's timers and media (the page left the consult). */
export function leaveScreen() {
  if (s) stopMedia();
  clearTimeout(live.answerTimer);
}
