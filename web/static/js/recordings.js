// A consult's recordings, for its clinicians and their manager: each played in the page,
// decrypted on the fly by the server a range at a time (every viewing is logged there).
// A recording the server refuses (the patient's records erased, or a stored file that
// failed its integrity check) says so in words instead of a broken player. Managers put a
// recording on legal hold, which retention never deletes, and lift it.

import {
  api,
  ApiError,
  clearError,
  el,
  errorText,
  formatDateTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const HOLD_KINDS = ["complaint", "inquest", "claim", "other"];
const list = document.getElementById("recordings-list");
const listError = document.getElementById("recordings-error");
let account = null;

function minutes(ms) {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

async function whyNotPlayable(rec) {
  // A range away from the start: the server answers with its refusal, and logs no viewing.
  const response = await fetch(rec.media, { headers: { Range: "bytes=-1" }, credentials: "same-origin" });
  if (response.ok) return null;
  const body = await response.json().catch(() => ({}));
  return new ApiError(response.status, body.code || "generic", body);
}

function holdControls(rec, item) {
  if (!account || account.role !== "manager") return null;
  const box = el("div", { class: "hold" });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  if (rec.held) {
    const lift = el("button", { type: "button", class: "button secondary", text: t("recordings.lift_button") });
    lift.addEventListener("click", async () => {
      lift.disabled = true;
      try {
        const done = await api("DELETE", `/api/recordings/${rec.id}/hold`);
        item.replaceWith(recordingItem(done));
      } catch (failure) {
        lift.disabled = false;
        showError(error, failure);
      }
    });
    box.append(lift);
  } else {
    const selectId = `hold-kind-${rec.id}`;
    const select = el(
      "select",
      { id: selectId, name: "kind" },
      ...HOLD_KINDS.map((kind) => el("option", { value: kind, text: t(`recordings.hold_${kind}`) })),
    );
    const place = el("button", { type: "button", class: "button secondary", text: t("recordings.hold_button") });
    place.addEventListener("click", async () => {
      place.disabled = true;
      clearError(error);
      try {
        const done = await api("POST", `/api/recordings/${rec.id}/hold`, { kind: select.value });
        item.replaceWith(recordingItem(done));
      } catch (failure) {
        place.disabled = false;
        showError(error, failure);
      }
    });
    box.append(el("div", { class: "field" }, el("label", { for: selectId, text: t("recordings.hold_label") }), select), place);
  }
  box.append(error);
  return box;
}

function recordingItem(rec) {
  const when = formatDateTime(rec.created_at);
  const headingId = `rec-${rec.id}`;
  const video = el("video", {
    controls: true,
    preload: "metadata",
    poster: rec.poster,
    src: rec.media,
    "aria-labelledby": headingId,
    class: "recording-player",
  });
  const refused = el("p", { class: "error", role: "alert", hidden: true });
  video.addEventListener("error", async () => {
    const why = await whyNotPlayable(rec);
    video.hidden = true;
    showError(refused, why || t("error.generic"));
  });
  const facts = el(
    "dl",
    { class: "facts" },
    el("dt", { text: t("recordings.length") }),
    el("dd", { text: minutes(rec.duration_ms) }),
    el("dt", { text: t("recordings.kept_until") }),
    el("dd", { text: rec.held ? t("recordings.held") : formatDateTime(rec.expires_at) }),
    el("dt", { text: t("recordings.digest") }),
    el("dd", {}, el("code", { class: "digest", text: rec.sha256 })),
  );
  const item = el(
    "li",
    { class: "panel recording", "data-recording": rec.id },
    el("h2", { id: headingId, text: t("recordings.recorded_at", { when }) }),
    video,
    refused,
    facts,
  );
  const hold = holdControls(rec, item);
  if (hold) item.append(hold);
  return item;
}

async function load() {
  const appointment = new URLSearchParams(location.search).get("appointment");
  clearError(listError);
  if (!appointment) {
    showError(listError, t("recordings.no_appointment"));
    return;
  }
  try {
    const found = await api("GET", `/api/appointments/${encodeURIComponent(appointment)}/recordings`);
    list.replaceChildren(...found.recordings.map(recordingItem));
    document.getElementById("recordings-none").hidden = found.recordings.length > 0;
  } catch (failure) {
    showError(listError, errorText(failure));
  }
}

async function main() {
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["clinician", "manager"]);
  if (account) {
    show("screen-recordings");
    await load();
  }
  document.body.dataset.ready = "true";
}

main();
