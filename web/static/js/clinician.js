// The clinician: today's list, the waiting room, admit, the call and its outcome.

import {
  errorText,
  flash,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  staffGate,
} from "./common.js";
import { mountInbox } from "./inbox.js";
import { mountNoticeEmail } from "./notice_email.js";
import { desk } from "./clinician_desk.js";
import { setupEstablishmentChooser } from "./establishment_chooser.js";
import { misses } from "./misses.js";
import { calendar } from "./clinician_calendar.js";

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["clinician"]);
  if (account) {
    mountInbox(document.getElementById("inbox"))
      .start()
      .catch((failure) => flash(errorText(failure)));
    mountNoticeEmail().catch((failure) => flash(errorText(failure)));
    show("screen-list");
    await Promise.all([desk.start(account), setupEstablishmentChooser(), calendar.start()]);
    await misses.start();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
