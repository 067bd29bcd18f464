// The public claim page: the code from the release letter, then a key for an authenticator
// app, an email and a password. The code is typed into a form and sent in a body, never put
// in the address. Once claimed, the person is signed in and taken to their own page.

import { api, clearError, errorText, flash, setupLanguageSwitch, show, showError, t } from "./common.js";

let code = "";

// The server's refusals carry a stable reason; the words for it are the page's own.
function refusal(failure) {
  const reason = failure && failure.body && failure.body.reason;
  const key = `claim.refused_${reason}`;
  return reason && t(key) !== key ? t(key) : errorText(failure);
}

function setupCode() {
  const form = document.getElementById("code-form");
  const error = document.getElementById("code-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const typed = form.code.value.trim();
    if (!typed) {
      showError(error, t("claim.need_code"));
      return;
    }
    let enrolment;
    try {
      enrolment = await api("POST", "/api/community/claim/start", { code: typed });
    } catch (failure) {
      showError(error, refusal(failure));
      return;
    }
    code = typed;
    document.getElementById("totp-secret").textContent = enrolment.totp_secret.replace(/(.{4})/g, "$1 ").trim();
    document.getElementById("totp-secret").dataset.secret = enrolment.totp_secret;
    show("screen-account");
  });
}

function setupAccount() {
  const form = document.getElementById("account-form");
  const error = document.getElementById("account-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const email = form.email.value.trim();
    const password = form.password.value;
    const totp = form.totp.value.trim();
    if (!email || !password || !/^[0-9]{6}$/.test(totp)) {
      showError(error, t("claim.need_fields"));
      return;
    }
    if (password.length < 12) {
      showError(error, t("claim.password_short"));
      return;
    }
    if (password !== form.password_again.value) {
      showError(error, t("claim.password_differs"));
      return;
    }
    try {
      await api("POST", "/api/community/claim", { code, email, password, totp, session: "cookie" });
    } catch (failure) {
      showError(error, refusal(failure));
      return;
    }
    window.location.href = "/community";
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
