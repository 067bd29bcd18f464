// The reader's inbox (docs/notifications.md): unread notices, worded here in the page's language
// from the codes and times the server keeps, kept live by the signalling socket's `inbox`
// message (which carries only an id: the page fetches its inbox again). Reading one is recorded.

import { api, el, errorText, formatDateTime, t } from "./common.js";
import { pounds } from "./money_words.js";
import { Signal } from "./signal.js";

const KINDS = new Set([
  "booked",
  "rescheduled",
  "cancelled",
  "rebook_offer",
  "reminder_24h",
  "reminder_15m",
  "request_received",
  "request_triaged",
  "transferred",
  "transfer_moved",
  "request_advised",
  "request_declined",
  "patient_transferred",
  "patient_released",
  "call_back",
  "application_answered",
  "shop_orders_cancelled",
  "visit_booked",
  "visit_cancelled",
  "visits_offered",
  "visitor_approved",
  "visitor_refused",
  "risk_alert",
  "check_due",
]);

/** A notice in words: its kind, its times, and (for a cancellation) why, as the reader may see. */
export function noticeText(notice) {
  const f = notice.fields || {};
  const vars = {
    time: f.starts_at ? formatDateTime(f.starts_at) : "",
    was: f.cancelled_starts_at ? formatDateTime(f.cancelled_starts_at) : "",
    place: [f.wing, f.cell].filter(Boolean).join(", ") || t("inbox.place_unknown"),
    receipt: f.receipt || "",
    orders: f.orders || 0,
    amount: pounds(f.refunded_pence || 0),
  };
  const kind = KINDS.has(notice.kind) ? notice.kind : "other";
  let text = t(`inbox.kind_${kind}`, vars);
  if (notice.kind === "cancelled") {
    if (f.reason) text = `${text} ${t(`inbox.reason_${f.reason}`)}`;
    else if (f.cause) text = `${text} ${t(`inbox.cause_${f.cause}`)}`;
  }
  return text;
}

/**
 * Shows the inbox in `root` (a section holding `.inbox-count` and `.inbox-list`) and keeps it live.
 * `actions(notice)` may add buttons to a notice (the device's "choose a new time");
 * `onPush(message)` hears each live `inbox` message (the officer's call-back list refreshes).
 */
export function mountInbox(root, { actions = () => [], onPush = () => {} } = {}) {
  const list = root.querySelector(".inbox-list");
  const count = root.querySelector(".inbox-count");
  let signal = null;

  function item(notice) {
    const read = el("button", { type: "button", class: "button secondary", text: t("inbox.mark_read") });
    read.addEventListener("click", async () => {
      read.disabled = true;
      try {
        await api("POST", `/api/inbox/${notice.id}/read`);
      } catch (failure) {
        read.disabled = false;
        count.textContent = errorText(failure);
        return;
      }
      await refresh();
    });
    return el(
      "li",
      { class: "card notice", "data-notice": notice.id, "data-kind": notice.kind },
      el("p", { class: "card-title", text: noticeText(notice) }),
      el("p", { class: "hint", text: t("inbox.sent", { time: formatDateTime(notice.created_at) }) }),
      ...actions(notice),
      read,
    );
  }

  async function refresh() {
    const inbox = await api("GET", "/api/inbox");
    const unread = inbox.notices.filter((n) => !n.read);
    count.textContent = inbox.unread
      ? t(inbox.unread === 1 ? "inbox.unread_one" : "inbox.unread", { n: inbox.unread })
      : t("inbox.none");
    list.replaceChildren(...unread.map(item));
    root.dataset.unread = String(inbox.unread);
  }

  async function start() {
    await refresh();
    signal = new Signal();
    signal.addEventListener("message", (event) => {
      if (!event.detail || event.detail.type !== "inbox") return;
      refresh().catch(() => {});
      onPush(event.detail);
    });
    // Back after a drop: anything delivered meanwhile is in the inbox, not replayed.
    signal.addEventListener("up", () => refresh().catch(() => {}));
    await signal.open();
    root.dataset.live = "true";
  }

  return { start, refresh };
}
