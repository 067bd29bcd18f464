// The public page that accepts an interpreter's emailed invitation: the code (brought in the
// link's fragment, which no server sees, or typed), then a key for an authenticator app, a
// name, a username and a password. The code is sent only in a body. Once accepted, the new
// interpreter is signed in and taken to /attend, where the consult is listed.

import { api, clearError, errorText, flash, formatDate, formatTime, setupLanguageSwitch, show, showError, t } from "./common.js";

let code = "";

// The server's refusals carry a stable reason; the words for it are the page's own.
function refusal(failure) {
  const reason = failure && failure.body && failure.body.reason;
  const key = `interp.refused_${reason}`;
  return reason && t(key) !== key ? t(key) : errorText(failure);
}

/** The code from the link's fragment, taken out of the address bar at once. */
function codeFromLink() {
  const found = new URLSearchParams(window.location.hash.slice(1)).get("code");
  if (found) history.replaceState(null, "", window.location.pathname);
  return found || "";
}

function setupCode() {
  const form = document.getElementById("code-form");
  const error = document.getElementById("code-error");
  form.code.value = codeFromLink();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const typed = form.code.value.trim();
    if (!typed) {
      showError(error, t("interp.need_code"));
      return;
    }
    let enrolment;
    try {
      enrolment = await api("POST", "/api/interpreter-invitations/start", { code: typed });
    } catch (failure) {
      showError(error, refusal(failure));
      return;
    }
    code = typed;
    const secret = document.getElementById("totp-secret");
    secret.textContent = enrolment.totp_secret.replace(/(.{4})/g, "$1 ").trim();
    secret.dataset.secret = enrolment.totp_secret;
    document.getElementById("invited-for").textContent = t("interp.invited_for", {
      language: t(`language.${enrolment.language}`),
      when: `${formatDate(enrolment.starts_at)} ${formatTime(enrolment.starts_at)}`,
    });
    show("screen-account");
  });
}

function setupAccount() {
  const form = document.getElementById("account-form");
  const error = document.getElementById("account-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const body = {
      code,
      display_name: form.display_name.value.trim(),
      username: form.username.value.trim().toLowerCase(),
      password: form.password.value,
      totp: form.totp.value.trim(),
      // The account keeps the language this page is read in.
      locale: document.documentElement.lang === "cy" ? "cy" : "en",
      session: "cookie",
    };
    if (!body.display_name || !body.username || !body.password || !/^[0-9]{6}$/.test(body.totp)) {
      showError(error, t("interp.need_fields"));
      return;
    }
    if (body.password.length < 12) {
      showError(error, t("claim.password_short"));
      return;
    }
    if (body.password !== form.password_again.value) {
      showError(error, t("claim.password_differs"));
      return;
    }
    try {
      await api("POST", "/api/interpreter-invitations/accept", body);
    } catch (failure) {
      showError(error, refusal(failure));
      return;
    }
    window.location.href = "/attend";
  });
}

function main() {
  setupLanguageSwitch(() => false);
  setupCode();
  setupAccount();
  document.body.dataset.ready = "true";
}

try {
  main();
} catch (failure) {
  flash(errorText(failure));
}
