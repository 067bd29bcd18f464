// What the device's sealed queue is doing, in words, for the learning and programme-session
// screens (the questionnaires' screen has its own): how many things wait to be sent, and why
// (no connection, a lockdown), and what the server said about something sent later.

import { el, flash, t } from "./common.js";

/** An `onChange` for OfflineQueue that writes into `node` (a role="status" paragraph). */
export function showWaiting(node, lockdownKey) {
  return ({ waiting, state }) => {
    node.dataset.waiting = String(waiting);
    node.dataset.state = state;
    const parts = [];
    if (waiting > 0) parts.push(el("strong", { text: t("offline.waiting", { n: waiting }) }));
    let why = null;
    if (state === "lockdown" && waiting > 0) why = t(lockdownKey);
    else if (state === "offline" && waiting > 0) why = t("offline.no_link");
    else if (state === "refused" && waiting > 0) why = t("offline.not_yours");
    if (why) parts.push(el("span", { text: ` ${why}` }));
    node.replaceChildren(...parts);
    node.hidden = parts.length === 0;
  };
}

/** What an item sent later came to, told to the person: a conflict or a refusal. */
export function tellOutcome(outcome, words = (o) => o.detail) {
  if (outcome.status === "conflict") flash(t("offline.conflict_answer"));
  else if (outcome.status === "refused") flash(t("offline.refused_item", { why: words(outcome) || "" }));
}
