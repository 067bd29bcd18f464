// A communications restriction (a security incident), declared by an officer and in force only
// once a governor other than the declarer confirms it on their desk (docs/lockdown.md).

import { api, clearError, formatDateTime, serverNow, showError, t } from "./common.js";
import { closedText } from "./staff_regime.js";

let current = null;

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

async function refresh() {
  const all = await api("GET", "/api/lockdowns");
  current = all.find((x) => x.kind === "communications") || null;
  const state = document.getElementById("restriction-state");
  if (!current) state.textContent = t("restriction.none");
  else if (!current.confirmed) {
    state.textContent = t("restriction.pending", { to: formatDateTime(current.ends_at) });
  } else state.textContent = t("restriction.in_force", { to: formatDateTime(current.ends_at) });
  state.dataset.restriction = current ? (current.confirmed ? "confirmed" : "pending") : "";
  document.getElementById("restriction-declare").hidden = Boolean(current);
  document.getElementById("restriction-withdraw").hidden = !current;
}

function setup() {
  const form = document.getElementById("restriction-form");
  const error = document.getElementById("restriction-error");
  const confirmBox = document.getElementById("restriction-confirm");
  form.until.value = localInput(new Date(serverNow() + 4 * 3600 * 1000));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    if (!form.until.value) {
      showError(error, t("error.invalid_request"));
      return;
    }
    // Say what will happen, and that it waits for a governor, before anything does.
    try {
      const { modules } = await api("GET", "/api/suspensions");
      document.getElementById("restriction-confirm-closed").textContent = closedText(modules);
    } catch (failure) {
      showError(error, failure);
      return;
    }
    document.getElementById("restriction-confirm-until").textContent = t("restriction.confirm_until", {
      to: formatDateTime(new Date(form.until.value).toISOString()),
    });
    confirmBox.hidden = false;
    document.getElementById("restriction-confirm-yes").focus();
  });
  document.getElementById("restriction-confirm-no").addEventListener("click", () => {
    confirmBox.hidden = true;
  });
  document.getElementById("restriction-confirm-yes").addEventListener("click", async () => {
    confirmBox.hidden = true;
    try {
      await api("POST", "/api/lockdowns", {
        kind: "communications",
        ends_at: new Date(form.until.value).toISOString(),
      });
      await refresh();
    } catch (failure) {
      showError(error, failure);
    }
  });
  document.getElementById("restriction-withdraw").addEventListener("click", async () => {
    clearError(error);
    if (!current) return;
    try {
      await api("POST", `/api/lockdowns/${encodeURIComponent(current.id)}/lift`);
      await refresh();
    } catch (failure) {
      showError(error, failure);
    }
  });
}

let ready = false;

async function load() {
  if (!ready) {
    setup();
    ready = true;
  }
  await refresh();
}

export const restriction = { load };
