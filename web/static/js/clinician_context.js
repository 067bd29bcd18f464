// What the clinician has in front of them at admit and during the call: the reason for the
// appointment, the text of the health request it was booked from, and the patient's pre-call
// test. Only the consult's own clinician gets it (`/api/appointments/{id}/context`).

import { api, el, formatDateTime, t } from "./common.js";
import { testCallLine } from "./clinician_testcall.js";

// Appointment id -> its context once fetched (or null if refused), and the fetch in flight:
// the waiting list is drawn again every few seconds and must not flicker or refetch.
const known = new Map();
const pending = new Map();

function load(appointmentId) {
  if (!pending.has(appointmentId)) {
    pending.set(
      appointmentId,
      api("GET", `/api/appointments/${encodeURIComponent(appointmentId)}/context`)
        .catch(() => null)
        .then((found) => {
          known.set(appointmentId, found);
          return found;
        }),
    );
  }
  return pending.get(appointmentId);
}

function line(term, value) {
  return [el("dt", { text: term }), el("dd", {}, value)];
}

function fill(box, context) {
  if (!context) {
    box.replaceChildren(el("p", { class: "hint", text: t("context.unavailable") }));
    return;
  }
  const withheld = context.clinical_text !== "shown";
  const reason = withheld ? t("context.withheld") : context.reason || t("context.none");
  const request = context.request;
  let asked = t("context.no_request");
  if (request) {
    const text = request.text_status === "shown" ? request.text : t("context.withheld");
    asked = el(
      "span",
      {},
      el("span", {
        class: "hint",
        text: `${t(`request.category_${request.category}`)} · ${formatDateTime(request.created_at)}: `,
      }),
      el("q", { "data-request-text": "", text }),
    );
  }
  const test = context.test_call ? testCallLine({ test_call: context.test_call }) : t("context.no_test");
  box.replaceChildren(
    el("p", { class: "context-title", text: t("context.heading") }),
    el(
      "dl",
      { class: "context-list" },
      ...line(t("context.reason"), el("span", { "data-reason": "", text: reason })),
      ...line(t("context.request"), asked),
      ...line(t("context.test"), test),
    ),
  );
}

/** The context block for one appointment: drawn now from what is known, filled in when fetched. */
export function contextBlock(appointmentId) {
  const box = el("div", { class: "consult-context", "data-context": appointmentId });
  if (known.has(appointmentId)) fill(box, known.get(appointmentId));
  else {
    box.append(el("p", { class: "hint", text: t("common.loading") }));
    load(appointmentId).then((found) => fill(box, found));
  }
  return box;
}

/** Fetched again (the pre-call test may have run since): for a consult being opened. */
export function refreshContext(appointmentId) {
  pending.delete(appointmentId);
  known.delete(appointmentId);
}
