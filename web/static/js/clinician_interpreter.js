// Inviting an interpreter for one consult, from its row on today's list: the language from a
// fixed list (never free text) and their email address. An interpreter who has an account
// with that address is invited at once; anyone else is emailed a link that works once, to
// make an account (scheduling/interpreters.py).

import { api, clearError, el, errorText, formatDateTime, showError, t } from "./common.js";

const state = { appointment: null, opener: null };

function node(id) {
  return document.getElementById(id);
}

export function interpreterButton(a, when, who) {
  return el("button", {
    type: "button",
    class: "button secondary",
    "data-interpreter": a.id,
    "aria-label": `${t("interp.invite")}: ${when} ${who}`,
    text: t("interp.invite"),
  });
}

export function openInvite(appointmentId, when, who, opener) {
  state.appointment = appointmentId;
  state.opener = opener;
  clearError(node("interp-error"));
  node("interp-status").textContent = "";
  node("interp-for").textContent = t("interp.invite_for", { when, patient: who });
  node("interpreter-invite").hidden = false;
  node("interp-heading").focus();
}

function refusal(failure) {
  const reason = failure && failure.body && failure.body.reason;
  const key = `interp.invite_refused_${reason}`;
  return reason && t(key) !== key ? t(key) : errorText(failure);
}

export function setupInterpreter() {
  const form = node("interp-form");
  const error = node("interp-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    node("interp-status").textContent = "";
    const language = form.language.value;
    const email = form.email.value.trim();
    if (!language || !email) {
      showError(error, t("interp.need_language_email"));
      return;
    }
    let invited;
    try {
      invited = await api("POST", `/api/appointments/${encodeURIComponent(state.appointment)}/interpreters`, {
        language,
        email,
      });
    } catch (failure) {
      showError(error, refusal(failure));
      return;
    }
    const words = { language: t(`language.${invited.language}`) };
    node("interp-status").textContent =
      invited.invited === "email"
        ? t("interp.sent", { ...words, until: formatDateTime(invited.expires_at) })
        : t("interp.invited_account", words);
    form.email.value = "";
  });
  node("interp-close").addEventListener("click", () => {
    node("interpreter-invite").hidden = true;
    if (state.opener && state.opener.isConnected) state.opener.focus();
  });
}
