// What the triage, booking and availability pages share: refusals in words, and the
// establishment's services. A refusal with a `reason` the server gives (a booking over a
// regime window, a clinician on leave, a slot just taken) is said in this page's language.

import { ApiError, errorText, formatDateTime, t } from "./common.js";

export const DESK_ROLES = ["clinician", "healthcare_admin", "manager"];

export function refusal(failure) {
  if (failure instanceof ApiError && failure.body && failure.body.reason) {
    const b = failure.body;
    const key = `desk.reason.${b.reason}`;
    const vars = {
      day: Number.isInteger(b.weekday) ? t(`desk.day_${b.weekday}`) : "",
      start: b.start || "",
      end: b.end || "",
      from: b.starts_at ? formatDateTime(b.starts_at) : "",
      to: b.ends_at ? formatDateTime(b.ends_at) : "",
    };
    if (t(key) !== key) return t(key, vars);
  }
  return errorText(failure);
}

/** Whether the failure is the server saying this account may not do this. */
export function forbidden(failure) {
  return failure instanceof ApiError && failure.status === 403;
}
