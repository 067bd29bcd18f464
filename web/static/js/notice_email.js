// A staff member's choice to be emailed when a notice reaches their inbox (docs/notifications.md).
// Only to an address they have confirmed; the email says only that there is a new message.

import { api, clearError, showError, t } from "./common.js";

export async function mountNoticeEmail() {
  const root = document.getElementById("notice-email");
  const state = document.getElementById("notice-email-state");
  const box = document.getElementById("notice-email-on");
  const form = document.getElementById("notice-email-form");
  const error = document.getElementById("notice-email-error");

  function showSetting(setting) {
    box.checked = setting.opted_in;
    box.disabled = !setting.email;
    if (!setting.email) state.textContent = t("notice_email.no_address");
    else if (setting.opted_in) state.textContent = t("notice_email.on", { email: setting.email });
    else state.textContent = t("notice_email.off", { email: setting.email });
    root.dataset.optedIn = String(setting.opted_in);
  }

  box.addEventListener("change", async () => {
    clearError(error);
    const wanted = box.checked;
    box.disabled = true;
    try {
      showSetting(await api("PUT", "/api/me/notice-email", { opted_in: wanted }));
    } catch (failure) {
      box.checked = !wanted;
      box.disabled = false;
      showError(error, failure);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const email = form.email.value.trim();
    if (!email) {
      showError(error, t("notice_email.address_missing"));
      form.email.focus();
      return;
    }
    try {
      await api("POST", "/api/me/email", { email });
      form.reset();
      state.textContent = t("notice_email.link_sent", { email });
    } catch (failure) {
      showError(error, failure);
    }
  });

  showSetting(await api("GET", "/api/me/notice-email"));
  root.hidden = false;
}
