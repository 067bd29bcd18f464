// Consult notes, typed during the call and saved as they are typed (a pause of SAVE_AFTER_MS),
// sealed on the server like every clinical text. Each save names the version it replaces: if
// another window saved first the server refuses (409), nothing is overwritten, and the
// clinician chooses between the two texts, both on screen. A reload shows the saved notes.

import { ApiError, api, formatTime, t } from "./common.js";

const SAVE_AFTER_MS = 700;

const state = {
  appointment: null,
  version: 0,
  saved: "",
  timer: null,
  saving: null,
  conflict: false,
};

function node(id) {
  return document.getElementById(id);
}

function path(appointmentId) {
  return `/api/appointments/${encodeURIComponent(appointmentId)}/consult-notes`;
}

function status(key, vars) {
  node("notes-status").textContent = key ? t(key, vars) : "";
}

async function save() {
  clearTimeout(state.timer);
  const appointment = state.appointment;
  if (!appointment || state.conflict) return;
  if (state.saving) {
    // One save at a time: the next starts when this one has its new version.
    await state.saving.catch(() => {});
    return save();
  }
  const text = node("consult-notes").value;
  if (text === state.saved) return;
  status("notes.saving");
  state.saving = api("PUT", path(appointment), { text, version: state.version });
  try {
    const done = await state.saving;
    if (appointment !== state.appointment) return;
    state.version = done.version;
    state.saved = text;
    const now = node("consult-notes").value === text;
    status(now ? "notes.saved" : "notes.saving", { time: formatTime(done.updated_at) });
    node("consult-notes").dataset.saved = now ? "true" : "false";
    if (!now) schedule();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 409) await conflicted(appointment);
    else status("notes.not_saved");
  } finally {
    state.saving = null;
  }
  return undefined;
}

async function conflicted(appointment) {
  const theirs = await api("GET", path(appointment));
  if (appointment !== state.appointment) return;
  state.conflict = true;
  state.version = theirs.version;
  node("notes-theirs").textContent = theirs.text;
  node("notes-conflict").hidden = false;
  status("notes.conflict");
  node("consult-notes").dataset.saved = "false";
}

function schedule() {
  clearTimeout(state.timer);
  node("consult-notes").dataset.saved = "false";
  status("notes.unsaved");
  state.timer = setTimeout(() => save().catch(() => status("notes.not_saved")), SAVE_AFTER_MS);
}

function resolve(keepMine) {
  if (!keepMine) {
    node("consult-notes").value = node("notes-theirs").textContent;
    state.saved = node("notes-theirs").textContent;
  } else {
    state.saved = node("notes-theirs").textContent;
  }
  state.conflict = false;
  node("notes-conflict").hidden = true;
  if (keepMine) save().catch(() => status("notes.not_saved"));
  else {
    node("consult-notes").dataset.saved = "true";
    status("notes.saved_from_other");
  }
}

/** Shows the notes of `appointmentId`, as saved on the server. */
async function open(appointmentId) {
  await close();
  state.appointment = appointmentId;
  const box = node("consult-notes");
  box.value = "";
  box.disabled = true;
  node("notes-conflict").hidden = true;
  status("common.loading");
  try {
    const found = await api("GET", path(appointmentId));
    if (appointmentId !== state.appointment) return;
    Object.assign(state, { version: found.version, saved: found.text, conflict: false });
    box.value = found.text;
    box.dataset.saved = "true";
    status(found.version ? "notes.saved" : null, { time: found.updated_at ? formatTime(found.updated_at) : "" });
  } catch {
    status("notes.not_loaded");
  } finally {
    box.disabled = false;
  }
}

/** Saves what is typed and not yet saved, then lets the consult go. */
async function close() {
  if (state.appointment && !state.conflict && node("consult-notes").value !== state.saved) {
    await save().catch(() => {});
  }
  clearTimeout(state.timer);
  state.appointment = null;
}

/** The page is going (a reload, a closed tab): what is typed and not yet saved goes now. */
function flushOnLeave() {
  const text = node("consult-notes").value;
  if (!state.appointment || state.conflict || text === state.saved) return;
  const csrf = document.cookie
    .split(";")
    .map((part) => part.trim())
    .find((part) => part.startsWith("tc_csrf="));
  fetch(path(state.appointment), {
    method: "PUT",
    keepalive: true,
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      "X-CSRF-Token": csrf ? decodeURIComponent(csrf.slice("tc_csrf=".length)) : "",
    },
    body: JSON.stringify({ text, version: state.version }),
  }).catch(() => {});
}

function setup() {
  window.addEventListener("pagehide", flushOnLeave);
  node("consult-notes").addEventListener("input", () => {
    if (!state.conflict) schedule();
  });
  node("notes-keep-mine").addEventListener("click", () => resolve(true));
  node("notes-use-theirs").addEventListener("click", () => resolve(false));
}

export const notes = { setup, open, close, save };
