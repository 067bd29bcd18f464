// Visits on the device: my visitors (and asking for a new one), booking a time with free
// places for approved visitors (the month's allowance shown), my visits (cancel, asked
// twice), and new times offered after a lockdown cancelled one. Names are shown as text,
// never as markup. A double tap is one booking or one request: each filled-in form carries
// one Idempotency-Key until it succeeds.

import { ApiError, api, clearError, el, formatTime, formatWhen, showError, t, timeZone } from "./common.js";
import { sessionLost } from "./device.js";

const PATHS = {
  visitors: "/api/kiosk/visitors",
  visits: "/api/kiosk/visits",
  choices: "/api/kiosk/visits/choices",
  cancel: (id) => `/api/kiosk/visits/${encodeURIComponent(id)}/cancel`,
  rebook: (id) => `/api/kiosk/visits/${encodeURIComponent(id)}/rebook`,
};
const HTML = /<\s*[/!?]?\s*[a-zA-Z]|<!--/;
const MAX_WHO = 3;

let ready = false;
let bookKey = null;
let askKey = null;

const $ = (id) => document.getElementById(id);
const when = (iso) => formatWhen(iso, timeZone());

/** The words for a refusal: its reason where we have words for it, else the general ones. */
function refusal(failure) {
  const reason = failure instanceof ApiError && failure.body ? failure.body.reason : null;
  const key = `visits.refused_${reason}`;
  return reason && t(key) !== key ? t(key) : failure;
}

function fail(element, failure) {
  if (failure instanceof ApiError && failure.status === 401) return sessionLost(failure);
  if (failure instanceof ApiError && failure.code === "lockdown") $("visits-closed").hidden = false;
  showError(element, refusal(failure));
}

function done(text) {
  const box = $("visits-done");
  box.textContent = text;
  box.hidden = false;
  box.focus();
}

function sessionLabel(s) {
  return t("visits.session", { when: when(s.starts_at), end: formatTime(s.ends_at), free: s.free });
}

function choice(type, name, value, text) {
  const id = `visits-${name}-${value}`;
  return el(
    "label",
    { class: "choice", for: id },
    el("input", { type, id, name, value }),
    el("span", { text }),
  );
}

function bookingCard(b) {
  const items = [
    el("p", { class: "card-title", text: t("visits.booking", { when: when(b.starts_at), reference: b.reference }) }),
    el("p", { text: t("visits.with", { names: b.visitors.map((v) => v.name ?? "?").join(", ") }) }),
    el("p", { class: "status-line", text: t(`visits.status_${b.status}`) }),
  ];
  if (b.status === "cancelled" && b.cancel_reason) {
    items.push(el("p", { class: "hint", text: t(`visits.cancelled_by_${b.cancel_reason}`) }));
  }
  if (b.status === "booked") {
    const error = el("p", { class: "error", role: "alert", hidden: true });
    const sure = el("div", { class: "confirm", hidden: true },
      el("p", { text: t("visits.cancel_sure") }),
    );
    const yes = el("button", { type: "button", class: "button danger big", text: t("visits.cancel_confirm", { reference: b.reference }) });
    const no = el("button", { type: "button", class: "button secondary big", text: t("visits.cancel_keep") });
    const ask = el("button", { type: "button", class: "button secondary big", text: t("visits.cancel") });
    sure.append(yes, no);
    ask.addEventListener("click", () => {
      ask.hidden = true;
      sure.hidden = false;
      yes.focus();
    });
    no.addEventListener("click", () => {
      sure.hidden = true;
      ask.hidden = false;
      ask.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      clearError(error);
      try {
        await api("POST", PATHS.cancel(b.id));
      } catch (failure) {
        yes.disabled = false;
        fail(error, failure);
        return;
      }
      await refresh();
      done(t("visits.cancel_done", { reference: b.reference }));
    });
    items.push(ask, sure, error);
  }
  return el("li", { class: "card visit", "data-reference": b.reference, "data-status": b.status }, ...items);
}

function visitorCard(v) {
  const status = v.status === "refused"
    ? t("visits.visitor_refused", { reason: v.reason ?? "" })
    : t(`visits.visitor_${v.status}`);
  return el(
    "li",
    { class: "card visitor", "data-status": v.status },
    el("p", { class: "card-title", text: t("visits.visitor", { name: v.name ?? "?", relationship: v.relationship ?? "" }) }),
    el("p", { class: "status-line", text: status }),
  );
}

function offerCard(o) {
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const key = crypto.randomUUID();
  const buttons = o.sessions.map((s) => {
    const button = el("button", { type: "button", class: "button primary big", text: t("visits.offer_take", { when: when(s.starts_at) }) });
    button.addEventListener("click", async () => {
      for (const b of buttons) b.disabled = true;
      clearError(error);
      let made;
      try {
        made = await api("POST", PATHS.rebook(o.booking.id), { session_id: s.id }, { headers: { "Idempotency-Key": key } });
      } catch (failure) {
        for (const b of buttons) b.disabled = false;
        fail(error, failure);
        return;
      }
      await refresh();
      done(t("visits.booked", { reference: made.reference }));
    });
    return button;
  });
  return el(
    "li",
    { class: "card offer", "data-reference": o.booking.reference },
    el("p", { text: t("visits.offer_text", { reference: o.booking.reference, when: when(o.booking.starts_at) }) }),
    ...(buttons.length ? buttons : [el("p", { text: t("visits.offer_none") })]),
    error,
  );
}

async function refresh() {
  const [choices, mine, visitors, status] = await Promise.all([
    api("GET", PATHS.choices),
    api("GET", PATHS.visits),
    api("GET", PATHS.visitors),
    api("GET", "/api/lockdown-status"),
  ]);
  $("visits-closed").hidden = !(status.lockdown && status.lockdown.closed.includes("visits"));
  $("visits-allowance").textContent = t("visits.allowance", {
    allowance: choices.allowance,
    used: choices.used_this_month,
  });
  $("visits-offers").hidden = choices.offers.length === 0;
  $("visits-offer-list").replaceChildren(...choices.offers.map(offerCard));
  $("visits-sessions").replaceChildren(
    ...(choices.sessions.length
      ? choices.sessions.map((s) => choice("radio", "session", s.id, sessionLabel(s)))
      : [el("p", { text: t("visits.no_sessions") })]),
  );
  const approved = visitors.filter((v) => v.status === "approved");
  $("visits-who").replaceChildren(
    ...(approved.length
      ? approved.map((v) => choice("checkbox", "visitor", v.id, t("visits.visitor", { name: v.name ?? "?", relationship: v.relationship ?? "" })))
      : [el("p", { text: t("visits.no_approved") })]),
  );
  $("visits-book").disabled = !approved.length || !choices.sessions.length;
  $("visits-list").replaceChildren(
    ...(mine.length ? mine.map(bookingCard) : [el("li", { text: t("visits.none") })]),
  );
  $("visits-visitors").replaceChildren(
    ...(visitors.length ? visitors.map(visitorCard) : [el("li", { text: t("visits.visitors_none") })]),
  );
}

function setup() {
  bookKey = crypto.randomUUID();
  askKey = crypto.randomUUID();
  const form = $("visits-form");
  const error = $("visits-book-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const session = form.querySelector("input[name=session]:checked");
    const who = [...form.querySelectorAll("input[name=visitor]:checked")].map((i) => i.value);
    if (!session) return showError(error, t("visits.need_time"));
    if (!who.length) return showError(error, t("visits.need_visitor"));
    if (who.length > MAX_WHO) return showError(error, t("visits.too_many_visitors"));
    const button = $("visits-book");
    button.disabled = true;
    let made;
    try {
      made = await api(
        "POST",
        PATHS.visits,
        { session_id: session.value, visitor_ids: who },
        { headers: { "Idempotency-Key": bookKey } },
      );
    } catch (failure) {
      button.disabled = false;
      fail(error, failure);
      return;
    }
    bookKey = crypto.randomUUID();
    $("visits-closed").hidden = true;
    await refresh();
    done(t("visits.booked", { reference: made.reference }));
  });

  const ask = $("visits-ask");
  const askError = $("visits-ask-error");
  ask.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(askError);
    const body = {
      name: ask.name.value.trim(),
      relationship: ask.relationship.value.trim(),
      email: ask.email.value.trim() || null,
      phone: ask.phone.value.trim() || null,
    };
    if (!body.name) return showError(askError, t("visits.need_name"));
    if (!body.relationship) return showError(askError, t("visits.need_relationship"));
    if (Object.values(body).some((v) => v && HTML.test(v))) return showError(askError, t("apps.no_html"));
    const button = ask.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("POST", PATHS.visitors, body, { headers: { "Idempotency-Key": askKey } });
    } catch (failure) {
      button.disabled = false;
      fail(askError, failure);
      return;
    }
    button.disabled = false;
    askKey = crypto.randomUUID();
    ask.reset();
    await refresh();
    done(t("visits.asked"));
  });
}

async function load() {
  if (!ready) {
    setup();
    ready = true;
  }
  $("visits-done").hidden = true;
  clearError($("visits-error"));
  try {
    await refresh();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) sessionLost(failure);
    else showError($("visits-error"), failure);
  }
}

export const visits = { load };
