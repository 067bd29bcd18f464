// Interpreters, chaperones and officers: the consults they are invited to (times only, never
// a reason or any clinical text), joining one, waiting to be admitted, the call with everyone
// in it (mesh.js), and, for an officer once the identity is confirmed, being on hold.

import { api, el, errorText, flash, formatTime, setupLanguageSwitch, setupSignOut, setupStaffSignIn, show, staffGate, t } from "./common.js";
import { Mesh } from "./mesh.js";
import { Signal, closeWords } from "./signal.js";

const ICE_REFRESH_MS = 60 * 1000;
const live = { signal: null, me: null, role: null, mesh: null, ice: [], stream: null, refresh: null, queue: Promise.resolve() };

function node(id) {
  return document.getElementById(id);
}

function say(key) {
  node("attend-status").textContent = t(key);
}

async function camera() {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  } catch {
    return navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => new MediaStream());
  }
}

/** The page's camera and microphone, asked for once however many links want them. */
async function media() {
  if (!live.stream) live.stream = camera();
  const stream = await live.stream;
  node("self-video").srcObject = stream;
  node("self-video").hidden = false;
  return stream;
}

function mesh() {
  if (!live.mesh) {
    live.mesh = new Mesh(live.signal, {
      me: { participant: live.me, role: live.role },
      stream: media,
      ice: () => live.ice,
      tiles: node("call-tiles"),
      label: (role) => t(`consult.role_${role}`),
    });
    window.tcMesh = live.mesh;
  }
  return live.mesh;
}

/** Whether the consult is being recorded (a `recording` message, or the room snapshot's). */
function showRecording(recording) {
  node("attend-recording").hidden = !(recording && recording.state === "on");
}

function stop(key) {
  showRecording(null);
  clearInterval(live.refresh);
  if (live.mesh) live.mesh.closeAll();
  if (live.stream) live.stream.then((stream) => stream.getTracks().forEach((track) => track.stop()));
  live.stream = null;
  node("self-video").hidden = true;
  node("attend-leave").hidden = true;
  say(key);
}

async function inCall(participants) {
  say("attend.in_call");
  node("attend-leave").hidden = false;
  await media();
  mesh().know(participants);
  for (const m of participants || []) await mesh().joined(m, { fresh: false });
  clearInterval(live.refresh);
  live.refresh = setInterval(() => live.signal && live.signal.send({ type: "ice" }), ICE_REFRESH_MS);
}

function onHold() {
  // Every link closes here too; the server relays nothing until the health worker brings us back.
  clearInterval(live.refresh);
  if (live.mesh) live.mesh.closeAll();
  live.ice = [];
  say("attend.on_hold");
  node("attend-leave").hidden = false;
}

async function onMessage(message) {
  switch (message.type) {
    case "room": {
      if (message.ice_servers) live.ice = message.ice_servers;
      const you = message.you || {};
      showRecording(message.recording);
      if (message.state === "ended") return stop("attend.ended");
      if (you.on_hold) return onHold();
      if (you.admitted) return inCall(message.members);
      say("attend.waiting");
      node("attend-leave").hidden = false;
      return undefined;
    }
    case "admitted":
      live.signal.send({ type: "ice" });
      return inCall(message.participants);
    case "ice_servers":
      live.ice = message.ice_servers || [];
      return undefined;
    case "joined":
      mesh().know([message]);
      return mesh().joined(message);
    case "on_hold":
      if (message.participant === live.me) return onHold();
      mesh().drop(message.participant);
      return undefined;
    case "left":
      if (live.mesh) live.mesh.drop(message.participant);
      return undefined;
    case "offer":
    case "answer":
    case "candidate":
      await mesh().handle(message);
      return undefined;
    case "ice_restart": {
      const link = mesh().links.get(message.from);
      if (link) await link.offer({ iceRestart: true });
      return undefined;
    }
    case "recording":
      showRecording(message);
      return undefined;
    case "ended":
      return stop("attend.ended");
    case "error":
      if (message.code === "room_full") return stop("error.room_full");
      if (message.code === "join_refused") return stop("attend.refused");
      return undefined;
    default:
      return undefined;
  }
}

async function join(appointment, account) {
  show("screen-call");
  live.role = account.role;
  const signal = new Signal();
  live.signal = signal;
  // One message at a time, in order: an offer is not taken before the admit that precedes it.
  signal.addEventListener("message", (event) => {
    live.queue = live.queue.then(() => onMessage(event.detail)).catch((failure) => flash(errorText(failure)));
  });
  signal.addEventListener("closed", (event) => {
    stop("attend.left");
    node("attend-status").textContent = closeWords(event.detail.code, t);
  });
  const welcome = await signal.open();
  live.me = welcome.participant;
  live.ice = welcome.ice_servers || [];
  signal.send({ type: "join", appointment });
}

async function load(account) {
  const list = node("attending");
  const found = await api("GET", "/api/attending");
  if (!found.length) {
    list.replaceChildren(el("li", { text: t("attend.none") }));
    return;
  }
  list.replaceChildren(
    ...found.map((a) =>
      el(
        "li",
        { "data-appointment": a.appointment_id },
        el("p", { text: `${formatTime(a.starts_at)} – ${formatTime(a.ends_at)}` }),
        a.language ? el("p", { text: t("attend.language", { language: t(`language.${a.language}`) }) }) : null,
        el("button", { type: "button", class: "button primary", text: t("attend.join"), onclick: () => join(a.appointment_id, account) }),
      ),
    ),
  );
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  node("attend-leave").addEventListener("click", () => {
    if (live.signal) live.signal.send({ type: "leave" });
    stop("attend.left");
  });
  account = await staffGate(["interpreter", "chaperone", "officer"]);
  if (account) {
    show("screen-list");
    await load(account);
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
