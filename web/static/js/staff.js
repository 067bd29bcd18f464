// Officers: call-backs to bring to a phone, equipment alerts, enrol a device, regime windows, lockdown, and appointment times (never reasons).

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";
import { mountInbox } from "./inbox.js";
import { mountNoticeEmail } from "./notice_email.js";
import { officer } from "./staff_regime.js";
import { restriction } from "./staff_restriction.js";
import { testCallAlerts } from "./staff_alerts.js";
import { callBacks } from "./staff_callbacks.js";

function setupEnrol() {
  const form = document.getElementById("enrol-form");
  const error = document.getElementById("enrol-error");
  const result = document.getElementById("enrol-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    result.hidden = true;
    const cell = form.cell.value.trim();
    if (!cell) {
      showError(error, t("error.invalid_request"));
      form.cell.focus();
      return;
    }
    try {
      const enrolment = await api("POST", "/api/devices", { cell });
      document.getElementById("enrol-code").textContent = enrolment.enrolment_code;
      document.getElementById("enrol-expires").textContent = t("officer.enrol_expires", {
        time: formatTime(enrolment.expires_at),
      });
      result.hidden = false;
    } catch (failure) {
      showError(error, failure);
    }
  });
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  setupEnrol();
  account = await staffGate(["officer", "admin"]);
  if (account) {
    const onPush = (message) => {
      if (message.kind === "call_back") callBacks.refresh().catch(() => {});
    };
    mountInbox(document.getElementById("inbox"), { onPush })
      .start()
      .catch((failure) => flash(errorText(failure)));
    mountNoticeEmail().catch((failure) => flash(errorText(failure)));
    show("screen-officer");
    document.getElementById("admin-links").hidden = account.role !== "admin";
    await Promise.all([
      officer.load(account),
      restriction.load(),
      testCallAlerts.load(),
      callBacks.load(),
    ]);
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
