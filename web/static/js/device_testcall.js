// "Test my connection": a short call to the service's test peer over the path the consult will
// take (the same signalling, relay-only through the same TURN relay), with the result in plain
// words. The server judges both directions; wing staff are told if something does not work.
// Protocol: docs/signalling.md, "Pre-call test".

import { api, serverNow, t } from "./common.js";
import { QualityMeter, rtcConfiguration } from "./call.js";
import { Signal } from "./signal.js";

const LEAD_MS = 24 * 3600 * 1000;
const ACTIVE = new Set(["booked", "checked_in", "in_progress"]);
const REFUSALS = new Set(["no_consult", "too_many", "already_testing", "in_consult", "unavailable", "not_a_device"]);
const NO_RETRY = new Set(["no_consult", "too_many", "not_a_device"]);

const run = {
  appointment: null,
  signal: null,
  pc: null,
  stream: null,
  check: null,
  test: null,
  config: null,
  duration: 10,
  timer: null,
  measuring: false,
  finished: true,
};

function node(id) {
  return document.getElementById(id);
}

function progress(text) {
  node("testcall-progress").textContent = text;
}

function stop() {
  clearTimeout(run.timer);
  run.finished = true;
  if (run.pc) run.pc.close();
  if (run.signal) run.signal.close();
  if (run.stream) for (const track of run.stream.getTracks()) track.stop();
  Object.assign(run, { signal: null, pc: null, stream: null, test: null, timer: null, measuring: false });
  node("testcall-media").hidden = true;
  node("testcall-remote").srcObject = null;
  node("testcall-self").srcObject = null;
}

/** The camera and microphone, each if it opens; what opened is the device's own check. */
async function openMedia() {
  const tries = [
    [{ audio: true, video: { width: 640, height: 360 } }, { camera: "ok", microphone: "ok" }],
    [{ audio: true }, { camera: "fail", microphone: "ok" }],
    [{ video: { width: 640, height: 360 } }, { camera: "ok", microphone: "fail" }],
  ];
  for (const [constraints, check] of tries) {
    try {
      return { stream: await navigator.mediaDevices.getUserMedia(constraints), check };
    } catch {
      // Try with less.
    }
  }
  return { stream: new MediaStream(), check: { camera: "fail", microphone: "fail" } };
}

/** The test did not run: why, in words, and whether trying again can help. */
function refused(reason) {
  stop();
  progress("");
  const box = node("testcall-refused");
  box.textContent = t(REFUSALS.has(reason) || reason === "lost" ? `testcall.${reason}` : "testcall.unavailable");
  box.hidden = false;
  node("testcall-again").hidden = NO_RETRY.has(reason);
}

function lost() {
  if (!run.finished) refused("lost");
}

function sendCandidate(event) {
  const c = event.candidate;
  run.signal.send({
    type: "test_candidate",
    test: run.test,
    candidate: c
      ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
      : { candidate: "", sdpMid: null, sdpMLineIndex: null },
  });
}

async function answer(message) {
  const pc = new RTCPeerConnection(run.config);
  run.pc = pc;
  for (const track of run.stream.getTracks()) pc.addTrack(track, run.stream);
  pc.addEventListener("icecandidate", sendCandidate);
  pc.addEventListener("track", (event) => {
    node("testcall-remote").srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "connected") measure(pc);
  });
  await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  run.signal.send({ type: "test_answer", test: run.test, sdp: pc.localDescription.sdp });
}

/** What came back from the test peer over `duration` seconds, reported to the server. */
async function measure(pc) {
  if (run.measuring || pc !== run.pc) return;
  run.measuring = true;
  const meter = new QualityMeter(pc);
  const first = await meter.sample();
  run.timer = setTimeout(async () => {
    if (pc !== run.pc) return;
    const last = await meter.sample();
    // The browser tests read this; support staff can too, from the console.
    window.tcTestCallQuality = last;
    run.signal.send({
      type: "test_report",
      test: run.test,
      check: run.check,
      rtt_ms: last.rtt_ms,
      loss_pct: Math.min(100, last.loss_pct),
      jitter_ms: last.jitter_ms,
      bitrate_kbps: last.bitrate_kbps,
      fps: Math.min(240, last.fps),
      width: last.width,
      height: last.height,
      video_frames: Math.max(0, last.frames_decoded - first.frames_decoded),
      audio_packets: Math.max(0, last.audio_packets - first.audio_packets),
    });
  }, run.duration * 1000);
}

function checkRow(label, text, ok) {
  const item = document.createElement("li");
  item.append(`${label}: `);
  const value = document.createElement("strong");
  value.textContent = text;
  value.className = ok ? "ok" : "bad";
  item.append(value);
  return item;
}

function showResult(message) {
  stop();
  progress("");
  const sentences = [];
  if (message.outcome === "good") sentences.push(t("testcall.good"));
  else if (message.outcome === "poor") sentences.push(t("testcall.poor"));
  else {
    for (const problem of message.problems || []) sentences.push(t(`testcall.failed_${problem}`));
    sentences.push(t("testcall.told_staff"));
  }
  node("testcall-verdict").textContent = sentences.join(" ");
  const part = (value) => (value === "ok" ? t("testcall.ok") : value === "failed" ? t("testcall.failed") : t("testcall.unknown"));
  node("testcall-checks").replaceChildren(
    checkRow(t("testcall.row_camera"), part(message.camera), message.camera === "ok"),
    checkRow(t("testcall.row_microphone"), part(message.microphone), message.microphone === "ok"),
    checkRow(t("testcall.row_connection"), t(`testcall.conn_${message.connection}`), message.connection === "good"),
  );
  const measures = message.measures || {};
  const seen = measures.to_device || measures.to_service;
  node("testcall-numbers").textContent =
    seen && message.connection !== "failed"
      ? t("testcall.numbers", { rtt: Math.round(seen.rtt_ms), loss: seen.loss_pct, fps: Math.round(seen.fps) })
      : "";
  node("testcall-result").hidden = false;
  node("testcall-again").hidden = false;
  node("testcall-result-heading").focus();
}

async function onMessage(message) {
  if (run.finished) return;
  if (message.type === "test_call_started") {
    run.test = message.test;
    run.duration = message.duration_s;
    run.config = rtcConfiguration(message.ice_servers, { device: true, relayOnly: message.relay_only });
  } else if (message.type === "test_offer" && message.test === run.test) {
    await answer(message);
  } else if (message.type === "test_result" && message.test === run.test) {
    showResult(message);
  } else if (message.type === "error" && message.code === "test_call_refused") {
    refused(message.reason);
  }
}

async function start(appointmentId) {
  stop();
  run.finished = false;
  run.appointment = appointmentId || null;
  node("testcall-result").hidden = true;
  node("testcall-refused").hidden = true;
  node("testcall-again").hidden = true;
  node("testcall-again").onclick = () => start(run.appointment);
  progress(t("testcall.testing"));
  const { stream, check } = await openMedia();
  run.stream = stream;
  run.check = check;
  node("testcall-self").srcObject = stream;
  node("testcall-media").hidden = false;
  const signal = new Signal();
  run.signal = signal;
  signal.addEventListener("message", (event) => {
    onMessage(event.detail).catch(() => lost());
  });
  signal.addEventListener("reconnecting", lost);
  signal.addEventListener("closed", lost);
  signal.addEventListener("expired", lost);
  try {
    await signal.open();
  } catch {
    lost();
    return;
  }
  const body = { type: "test_call", check };
  if (run.appointment) body.appointment = run.appointment;
  signal.send(body);
}

/** On the home screen: offer the test when a video consult is less than 24 hours away. */
async function offer() {
  const box = node("testcall-offer");
  try {
    const now = serverNow();
    const items = await api("GET", "/api/appointments");
    box.hidden = !items.some(
      (a) => ACTIVE.has(a.status) && Date.parse(a.starts_at) - LEAD_MS <= now && Date.parse(a.ends_at) >= now,
    );
  } catch {
    box.hidden = true;
  }
}

window.addEventListener("hashchange", () => {
  if (!window.location.hash.startsWith("#testcall")) stop();
});

export const testcall = { start, offer };
