// The healthcare manager: dashboard charts, audit review, integrity and export.

import {
  errorText,
  flash,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  staffGate,
} from "./common.js";
import { handovers } from "./handovers.js";
import { mountInbox } from "./inbox.js";
import { mountNoticeEmail } from "./notice_email.js";
import { dashboard } from "./manager_dashboard.js";

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["manager", "admin"]);
  if (account) {
    mountInbox(document.getElementById("inbox"))
      .start()
      .catch((failure) => flash(errorText(failure)));
    mountNoticeEmail().catch((failure) => flash(errorText(failure)));
    show("screen-dashboard");
    // The Bundles hold health care: only healthcare managers download them.
    if (account.role === "manager") await handovers.start();
    await dashboard.start(account);
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
