// Joining a consult from the device: consent, a camera/microphone/connection check, then the
// waiting room and the call (device_call.js). A device that reloads or restarts in a consult
// it was in goes straight back to it, without a new check (consult_memory.js).

import { api, formatWhen, t, timeZone } from "./common.js";
import { enter, leaveScreen } from "./device_call.js";
import { forget, recall } from "./consult_memory.js";
import { giveConsent, hasConsent } from "./device_health.js";
import { Signal } from "./signal.js";

const session = {
  appointment: null,
  signal: null,
  stream: null,
  self: null,
  iceServers: [],
  relayOnly: false,
  check: null,
  mode: "video",
  left: false,
  startsAt: null,
  step,
  say,
  problem,
  restart: () => start(session.appointment),
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
  leaveScreen();
  if (session.signal) session.signal.close();
  if (session.stream) for (const track of session.stream.getTracks()) track.stop();
  Object.assign(session, { signal: null, stream: null });
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
    session.self = welcome.participant;
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

// ------------------------------------------------------ coming back

/** Back after a reload or restart: the camera and the connection again, no questions. */
async function rejoinStep(remembered) {
  step("step-rejoining");
  const { stream, video } = await getMedia();
  session.stream = stream;
  session.check = remembered.check || null;
  session.mode = remembered.mode === "audio" || !video ? "audio" : "video";
  session.left = Boolean(remembered.left);
  if (!stream) {
    ended(t("consult.no_media"));
    return false;
  }
  try {
    const signal = new Signal();
    const welcome = await signal.open();
    session.signal = signal;
    session.self = welcome.participant;
    session.iceServers = welcome.ice_servers || [];
  } catch {
    ended(t("error.network"), true);
    return false;
  }
  return true;
}

function ended(text, retry = false) {
  stopEverything();
  document.getElementById("ended-text").textContent = text;
  const again = document.getElementById("ended-retry");
  again.hidden = !retry;
  again.textContent = t("consult.try_again");
  again.onclick = () => start(session.appointment);
  step("step-ended");
}

async function start(appointmentId) {
  await stopEverything();
  problem("");
  say("");
  document.getElementById("waiting-messages").replaceChildren();
  document.getElementById("waiting-no-show").hidden = true;
  document.getElementById("screen-consult").classList.remove("in-call");
  session.appointment = appointmentId;
  session.left = false;
  let appointment;
  try {
    appointment = await api("GET", `/api/appointments/${encodeURIComponent(appointmentId)}`);
  } catch {
    forget();
    ended(t("error.not_found"));
    return;
  }
  session.startsAt = Date.parse(appointment.starts_at);
  document.getElementById("consult-when").textContent = formatWhen(appointment.starts_at, timeZone());
  const remembered = recall(appointmentId);
  if (remembered) {
    if (!(await rejoinStep(remembered))) return;
  } else {
    if (!(await consentStep())) return;
    const mode = await checkStep();
    if (!mode) return;
    session.mode = mode;
  }
  if (session.mode === "audio") for (const track of session.stream.getVideoTracks()) track.stop();
  enter(session);
}

window.addEventListener("hashchange", () => {
  if (!window.location.hash.startsWith("#consult/")) stopEverything();
});

export const consult = { start };
