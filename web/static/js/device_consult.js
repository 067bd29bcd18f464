// Joining a consult from the device: consent, a camera/microphone/connection check, the
// waiting room, the call, and reconnecting by itself, all said in plain words.

import { api, el, formatWhen, serverNow, t, timeZone } from "./common.js";
import { PeerLink, QualityMeter, rtcConfiguration, setupControls } from "./call.js";
import { giveConsent, hasConsent } from "./device_health.js";
import { Signal } from "./signal.js";

const NO_SHOW_AFTER_MS = 10 * 60 * 1000;
const QUALITY_EVERY_MS = 2000;
const REPORT_EVERY = 5;
const REFUSALS = {
  no_consent: "error.consent_required",
  too_early: "error.too_early",
  too_late: "error.too_late",
  not_booked: "error.too_late",
  room_ended: "consult.ended",
};

const session = {
  appointment: null,
  signal: null,
  stream: null,
  link: null,
  iceServers: [],
  relayOnly: false,
  check: null,
  noShowTimer: null,
  qualityTimer: null,
  startsAt: null,
};

function step(id) {
  for (const node of document.querySelectorAll("#screen-consult .step")) node.hidden = node.id !== id;
  const target = document.getElementById(id);
  const heading = target && target.querySelector("h2, p");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

function say(text) {
  document.getElementById("status").textContent = text;
}

function problem(text) {
  const box = document.getElementById("consult-error");
  box.textContent = text;
  box.hidden = !text;
}

function mark(id, ok, text) {
  const node = document.getElementById(id);
  node.textContent = text || (ok ? t("consult.check_ok") : t("consult.check_failed"));
  node.className = ok ? "ok" : "bad";
}

async function stopEverything() {
  clearTimeout(session.noShowTimer);
  clearInterval(session.qualityTimer);
  if (session.link) session.link.close();
  if (session.signal) session.signal.close();
  if (session.stream) for (const track of session.stream.getTracks()) track.stop();
  Object.assign(session, { signal: null, link: null, stream: null });
}

// ------------------------------------------------------------- consent

async function consentStep() {
  if (await hasConsent("telehealth")) return true;
  step("step-consent");
  return new Promise((resolve) => {
    document.getElementById("consent-yes").onclick = async () => {
      try {
        await giveConsent("telehealth");
        resolve(true);
      } catch {
        problem(t("error.generic"));
      }
    };
    document.getElementById("consent-no").onclick = () => {
      problem(t("consult.consent_declined"));
      resolve(false);
    };
  });
}

// --------------------------------------------------------------- check

async function microphoneWorks(stream) {
  const track = stream.getAudioTracks()[0];
  if (!track) return false;
  const context = new AudioContext();
  try {
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    source.connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    for (let i = 0; i < 20; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      analyser.getByteTimeDomainData(data);
      if (data.some((v) => Math.abs(v - 128) > 2)) return true;
    }
    return track.readyState === "live";
  } finally {
    context.close();
  }
}

async function getMedia() {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } }), video: true };
  } catch {
    try {
      return { stream: await navigator.mediaDevices.getUserMedia({ audio: true }), video: false };
    } catch {
      return { stream: null, video: false };
    }
  }
}

async function checkStep() {
  step("step-check");
  const join = document.getElementById("join-waiting");
  const audioButton = document.getElementById("join-audio");
  const advice = document.getElementById("check-advice");
  join.disabled = true;
  audioButton.hidden = true;
  advice.hidden = true;

  const { stream, video } = await getMedia();
  session.stream = stream;
  if (stream) document.getElementById("check-video").srcObject = stream;
  mark("check-camera", video);
  const mic = stream ? await microphoneWorks(stream) : false;
  mark("check-mic", mic);

  let network = "fail";
  try {
    const signal = new Signal();
    const started = performance.now();
    const welcome = await signal.open();
    session.signal = signal;
    session.iceServers = welcome.ice_servers || [];
    network = performance.now() - started < 1500 ? "ok" : "poor";
  } catch {
    network = "fail";
  }
  mark("check-connection", network !== "fail", network === "poor" ? t("clinician.check_poor") : undefined);
  session.check = { camera: video ? "ok" : "fail", microphone: mic ? "ok" : "fail", network };

  if (network === "fail") {
    advice.textContent = t("error.network");
    advice.hidden = false;
    return null;
  }
  if (!stream || !mic) {
    advice.textContent = stream ? t("consult.mic_refused") : t("consult.no_media");
    advice.hidden = false;
    return null;
  }
  return new Promise((resolve) => {
    if (!video) {
      advice.textContent = t("consult.camera_refused");
      advice.hidden = false;
      audioButton.hidden = false;
      audioButton.onclick = () => resolve("audio");
    } else {
      join.disabled = false;
      join.onclick = () => resolve("video");
    }
  });
}

// ------------------------------------------------------------- waiting

function showWaiting(message) {
  step("step-waiting");
  if (message.position) document.getElementById("waiting-position").textContent = t("consult.position", { n: message.position });
  if (typeof message.estimate_s === "number") {
    document.getElementById("waiting-estimate").textContent = t("consult.estimate", {
      n: Math.max(1, Math.round(message.estimate_s / 60)),
    });
  }
  clearTimeout(session.noShowTimer);
  const late = session.startsAt + NO_SHOW_AFTER_MS - serverNow();
  session.noShowTimer = setTimeout(() => {
    document.getElementById("waiting-no-show").hidden = false;
  }, Math.max(0, late));
}

function showNotice(message) {
  const box = document.getElementById("waiting-messages");
  box.append(el("p", {}, el("strong", { text: t("consult.message_from") }), " ", message.text));
  // In the call the waiting room is hidden: the status line carries the message too.
  if (!document.getElementById("step-call").hidden) say(`${t("consult.message_from")} ${message.text}`);
}

// ---------------------------------------------------------------- call

function startCall(message) {
  clearTimeout(session.noShowTimer);
  step("step-call");
  document.getElementById("self-video").srcObject = session.stream;
  const clinician = (message.participants || []).find((m) => m.role === "clinician");
  if (clinician) ensureLink(clinician.participant);
  clearInterval(session.qualityTimer);
  session.qualityTimer = setInterval(reportQuality, QUALITY_EVERY_MS);
}

function ensureLink(remote) {
  if (session.link && session.link.remote === remote) return session.link;
  if (session.link) session.link.close();
  session.link = new PeerLink(
    session.signal,
    remote,
    rtcConfiguration(session.iceServers, { device: true, relayOnly: session.relayOnly }),
    session.stream,
    {
      onTrack: (stream) => {
        document.getElementById("remote-video").srcObject = stream;
      },
    },
  );
  session.meter = new QualityMeter(session.link.pc);
  return session.link;
}

async function reportQuality() {
  if (!session.link || !session.meter) return;
  const q = await session.meter.sample();
  // The browser tests read the last sample; support staff can too, from the console.
  window.tcLastQuality = q;
  session.samples = (session.samples || 0) + 1;
  if (session.samples % REPORT_EVERY !== 1) return;
  session.signal.send({
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

function ended(text) {
  stopEverything();
  document.getElementById("ended-text").textContent = text;
  step("step-ended");
}

// ------------------------------------------------------------- messages

async function onMessage(message) {
  switch (message.type) {
    case "room":
      // The TURN credentials for this appointment come with the room, not the welcome.
      if (message.ice_servers) session.iceServers = message.ice_servers;
      if (typeof message.relay_only === "boolean") session.relayOnly = message.relay_only;
      break;
    case "waiting":
      showWaiting(message);
      break;
    case "notice":
      showNotice(message);
      break;
    case "admitted":
      startCall(message);
      break;
    case "offer":
    case "answer":
    case "candidate":
      await ensureLink(message.from).handle(message);
      break;
    case "ended":
      ended(t("consult.ended"));
      break;
    case "error":
      if (message.code === "join_refused") {
        ended(t(REFUSALS[message.reason] || "error.not_in_window"));
      } else if (message.code === "room_ended") {
        ended(t("consult.ended"));
      } else if (message.code === "resume_failed") {
        session.signal.send({ type: "join", appointment: session.appointment, check: session.check });
      }
      break;
    default:
      break;
  }
}

function watchConnection(signal) {
  signal.addEventListener("message", (event) => {
    onMessage(event.detail).catch(() => problem(t("error.generic")));
  });
  signal.addEventListener("reconnecting", () => say(t("consult.reconnecting")));
  signal.addEventListener("reconnected", () => say(t("consult.reconnected")));
  signal.addEventListener("closed", (event) => {
    ended(event.detail.code === 4004 || event.detail.code === 4001 ? t("signin.expired") : t("consult.left"));
  });
  signal.addEventListener("expired", () => ended(t("signin.expired")));
}

async function start(appointmentId) {
  await stopEverything();
  problem("");
  say("");
  document.getElementById("waiting-messages").replaceChildren();
  document.getElementById("waiting-no-show").hidden = true;
  session.appointment = appointmentId;
  let appointment;
  try {
    appointment = await api("GET", `/api/appointments/${encodeURIComponent(appointmentId)}`);
  } catch {
    ended(t("error.not_found"));
    return;
  }
  session.startsAt = Date.parse(appointment.starts_at);
  document.getElementById("consult-when").textContent = formatWhen(appointment.starts_at, timeZone());
  if (!(await consentStep())) return;
  const mode = await checkStep();
  if (!mode) return;
  if (mode === "audio") for (const track of session.stream.getVideoTracks()) track.stop();
  watchConnection(session.signal);
  setupControls(session.stream, () => session.link, t);
  document.getElementById("leave-call").onclick = () => {
    session.signal.send({ type: "leave" });
    ended(t("consult.left"));
  };
  session.signal.send({ type: "join", appointment: appointmentId, check: session.check });
}

window.addEventListener("hashchange", () => {
  if (!window.location.hash.startsWith("#consult/")) stopEverything();
});

export const consult = { start };
