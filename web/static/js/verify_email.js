// Opening an email verification link. The token is in the link's fragment, which the
// browser never sends to a server (so it is in no access log); this page posts it once
// and then removes it from the address bar.

import { api, errorText, setupLanguageSwitch, t } from "./common.js";

async function main() {
  setupLanguageSwitch(() => false);
  const status = document.getElementById("verify-status");
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  history.replaceState(null, "", window.location.pathname);
  if (!token) {
    status.textContent = t("error.email_link_invalid");
  } else {
    try {
      const done = await api("POST", "/api/email/verify", { token });
      status.textContent = t("verify.done", { email: done.email });
    } catch (failure) {
      status.textContent = errorText(failure);
    }
  }
  document.body.dataset.ready = "true";
}

main();
