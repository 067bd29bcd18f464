// Health on the device: appointments in plain words, consents, and asking to be seen.

import {
  ApiError,
  LOCALE,
  api,
  clearError,
  el,
  errorText,
  formatDateTime,
  formatWhen,
  serverNow,
  showError,
  t,
  timeZone,
} from "./common.js";

// The scheduling API (web/scheduling_api.py), as the prisoner sees it.
const PATHS = {
  appointments: "/api/appointments",
  services: "/api/services",
  consents: "/api/consents",
  forms: "/api/consent-forms",
  withdraw: (id) => `/api/consents/${encodeURIComponent(id)}/withdraw`,
  requests: "/api/health-requests",
};

const ACTIVE = new Set(["booked", "checked_in", "in_progress"]);
const KINDS = ["nurse", "gp", "psychiatrist", "substance_misuse"];
const JOIN_EARLY_MS = 10 * 60 * 1000;

let onSessionLost = () => {};
let forms = [];

function sessionGone(failure) {
  return failure instanceof ApiError && failure.status === 401;
}

function withWhom(appointment, services) {
  const code = String(appointment.service || "").toLowerCase();
  const kind = KINDS.find((k) => code.includes(k.replace("_", "")) || code.includes(k));
  if (kind) return t(`health.with_${kind}`);
  const service = services.get(appointment.service_id);
  return service ? service.name : t("health.with_clinician");
}

// Recording consent is for one appointment (docs/media.md): the newest answer the prisoner
// gave on this device for it, or the booking's answer (staff-witnessed, no device).
function recordingAnswers(consents) {
  const device = new Map();
  const booking = new Map();
  const newest = [...consents]
    .filter((c) => c.scope === "recording" && c.appointment_id)
    .sort((a, b) => b.decided_at.localeCompare(a.decided_at));
  for (const c of newest) {
    const mine = c.device_id && !c.witness_id;
    const into = mine ? device : booking;
    if (!into.has(c.appointment_id)) into.set(c.appointment_id, c);
  }
  return { device, booking };
}

function recordingBlock(appointment, answers) {
  const booked = answers.booking.get(appointment.id);
  if (booked && booked.decision === "declined") return null;
  const mine = answers.device.get(appointment.id);
  const inForce = Boolean(mine && mine.in_force);
  const stateId = `recording-state-${appointment.id}`;
  const buttons = inForce
    ? [
        el("button", {
          type: "button",
          class: "button secondary big",
          "data-recording-withdraw": mine.id,
          "aria-describedby": stateId,
          text: t("recording_consent.withdraw"),
        }),
      ]
    : [
        el("button", {
          type: "button",
          class: "button primary big",
          "data-recording-answer": "given",
          "data-appointment": appointment.id,
          "aria-describedby": stateId,
          text: t("recording_consent.yes"),
        }),
        mine
          ? null
          : el("button", {
              type: "button",
              class: "button secondary big",
              "data-recording-answer": "declined",
              "data-appointment": appointment.id,
              "aria-describedby": stateId,
              text: t("recording_consent.no"),
            }),
      ];
  const form = forms.find((f) => f.scope === "recording");
  return el(
    "div",
    { class: "recording-consent", "data-recording-for": appointment.id },
    el("p", { class: "recording-question", text: t("recording_consent.question") }),
    form ? el("details", {}, el("summary", { text: t("consent.read_more") }), el("p", { text: form.text[LOCALE] || form.text.en })) : null,
    el("p", {
      class: "consent-state",
      id: stateId,
      text: inForce ? t("recording_consent.state_yes") : t("recording_consent.state_no"),
    }),
    el("div", { class: "actions" }, ...buttons),
  );
}

function appointmentCard(appointment, services, answers) {
  const when = formatWhen(appointment.starts_at, timeZone());
  const line = `${when}, ${withWhom(appointment, services)}, ${t("health.by_video")}`;
  const statusKey = `health.status_${appointment.status}`;
  let action = null;
  if (ACTIVE.has(appointment.status)) {
    const early = new Date(appointment.starts_at).getTime() - JOIN_EARLY_MS > serverNow();
    action = el(
      "div",
      { class: "actions" },
      el("a", {
        class: "button primary big",
        href: `#consult/${appointment.id}`,
        text: t("health.join"),
        "aria-label": `${t("health.join")}: ${when}`,
      }),
      early ? el("p", { class: "hint", text: t("health.join_later") }) : null,
    );
  }
  return el(
    "li",
    { "data-appointment": appointment.id },
    el("p", { class: "card-title", text: line }),
    el("p", { text: t(statusKey) }),
    action,
    ACTIVE.has(appointment.status) ? recordingBlock(appointment, answers) : null,
  );
}

async function loadAppointments() {
  const list = document.getElementById("appointments");
  list.replaceChildren(el("li", { text: t("common.loading") }));
  try {
    const [appointments, services, consents, available] = await Promise.all([
      api("GET", PATHS.appointments),
      api("GET", PATHS.services).catch(() => []),
      api("GET", PATHS.consents).catch(() => []),
      forms.length ? forms : api("GET", PATHS.forms).catch(() => []),
    ]);
    forms = available;
    const answers = recordingAnswers(consents);
    const byId = new Map(services.map((s) => [s.id, s]));
    const items = appointments
      .filter((a) => a.status !== "cancelled" && new Date(a.ends_at).getTime() > serverNow() - 3600e3)
      .sort((a, b) => a.starts_at.localeCompare(b.starts_at));
    list.replaceChildren(
      ...(items.length ? items.map((a) => appointmentCard(a, byId, answers)) : [el("li", { text: t("health.none") })]),
    );
  } catch (failure) {
    if (sessionGone(failure)) throw failure;
    list.replaceChildren(el("li", { text: t("health.unavailable") }));
  }
}

function consentCard(form, held) {
  const inForce = Boolean(held);
  const titleId = `consent-title-${form.scope}`;
  const button = el("button", {
    type: "button",
    class: inForce ? "button secondary big" : "button primary big",
    "data-scope": form.scope,
    "data-version": String(form.version),
    "data-consent-id": held ? held.id : null,
    "aria-describedby": titleId,
    text: inForce ? t("consent.withdraw") : t("consent.give"),
  });
  return el(
    "li",
    { "data-consent": form.scope },
    el("p", { class: "card-title", id: titleId, text: form.title[LOCALE] || form.title.en }),
    el("details", {}, el("summary", { text: t("consent.read_more") }), el("p", { text: form.text[LOCALE] || form.text.en })),
    el("p", { class: "consent-state", text: inForce ? t("consent.yes") : t("consent.no") }),
    button,
  );
}

async function loadConsents() {
  const list = document.getElementById("consents");
  try {
    const [consents, available] = await Promise.all([api("GET", PATHS.consents), api("GET", PATHS.forms)]);
    forms = available;
    // Recording is asked per appointment, on each appointment's card.
    const held = new Map(consents.filter((c) => c.in_force && !c.appointment_id).map((c) => [c.scope, c]));
    list.replaceChildren(...forms.filter((f) => f.scope !== "recording").map((f) => consentCard(f, held.get(f.scope))));
  } catch (failure) {
    if (sessionGone(failure)) throw failure;
    list.replaceChildren(el("li", { text: t("health.unavailable") }));
  }
}

export async function hasConsent(scope) {
  const consents = await api("GET", PATHS.consents);
  return consents.some((c) => c.scope === scope && c.in_force);
}

export async function giveConsent(scope) {
  const available = forms.length ? forms : await api("GET", PATHS.forms);
  const form = available.find((f) => f.scope === scope);
  await api("POST", PATHS.consents, { scope, form_version: form.version, decision: "given", language: LOCALE });
}

function requestCard(request) {
  const statusKey = `request.status_${request.status}`;
  const status = t(statusKey) === statusKey ? t("request.status_received") : t(statusKey);
  return el(
    "li",
    {},
    el("p", { class: "card-title", text: `${t("request.ref", { ref: reference(request) })} · ${formatDateTime(request.created_at)}` }),
    el("p", { text: status }),
    request.response ? el("p", { class: "request-response", text: t("request.response", { text: request.response }) }) : null,
  );
}

function reference(request) {
  return request.id.slice(0, 8).toUpperCase();
}

async function loadRequests() {
  const list = document.getElementById("requests");
  try {
    const items = await api("GET", PATHS.requests);
    items.sort((a, b) => b.created_at.localeCompare(a.created_at));
    list.replaceChildren(...(items.length ? items.map(requestCard) : [el("li", { text: t("request.none") })]));
  } catch (failure) {
    if (sessionGone(failure)) throw failure;
    list.replaceChildren(el("li", { text: t("health.unavailable") }));
  }
}

async function guarded(work) {
  try {
    await work();
  } catch (failure) {
    if (sessionGone(failure)) onSessionLost(failure);
    else throw failure;
  }
}

function setup(sessionLost) {
  onSessionLost = sessionLost;
  const consentError = document.getElementById("consent-error");
  document.getElementById("consents").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-scope]");
    if (!button) return;
    const scope = button.dataset.scope;
    const consentId = button.dataset.consentId;
    clearError(consentError);
    button.disabled = true;
    await guarded(async () => {
      try {
        if (consentId) await api("POST", PATHS.withdraw(consentId));
        else
          await api("POST", PATHS.consents, {
            scope,
            form_version: Number(button.dataset.version),
            decision: "given",
            language: LOCALE,
          });
      } catch (failure) {
        if (sessionGone(failure)) throw failure;
        button.disabled = false;
        showError(consentError, failure);
        return;
      }
      await loadConsents();
      const again = document.querySelector(`#consents button[data-scope="${scope}"]`);
      if (again) again.focus();
    });
  });

  document.getElementById("appointments").addEventListener("click", async (event) => {
    const answer = event.target.closest("button[data-recording-answer]");
    const withdraw = event.target.closest("button[data-recording-withdraw]");
    if (!answer && !withdraw) return;
    const button = answer || withdraw;
    const block = button.closest("[data-recording-for]");
    const appointmentId = block.dataset.recordingFor;
    const appointmentsError = document.getElementById("appointments-error");
    clearError(appointmentsError);
    button.disabled = true;
    await guarded(async () => {
      try {
        if (withdraw) await api("POST", PATHS.withdraw(withdraw.dataset.recordingWithdraw));
        else {
          const form = forms.find((f) => f.scope === "recording");
          await api("POST", PATHS.consents, {
            scope: "recording",
            form_version: form.version,
            decision: answer.dataset.recordingAnswer,
            language: LOCALE,
            appointment_id: appointmentId,
          });
        }
      } catch (failure) {
        if (sessionGone(failure)) throw failure;
        button.disabled = false;
        showError(appointmentsError, failure);
        return;
      }
      await loadAppointments();
      const again = document.querySelector(`[data-recording-for="${appointmentId}"] button`);
      if (again) again.focus();
    });
  });

  const form = document.getElementById("request-form");
  const error = document.getElementById("request-error");
  const receipt = document.getElementById("request-receipt");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const text = form.text.value.trim();
    if (!text) {
      showError(error, t("request.need_text"));
      form.text.focus();
      return;
    }
    await guarded(async () => {
      let result;
      try {
        result = await api("POST", PATHS.requests, { category: form.category.value, text });
      } catch (failure) {
        if (sessionGone(failure)) throw failure;
        showError(error, failure);
        return;
      }
      form.reset();
      receipt.textContent = t("request.receipt", { ref: reference(result), when: formatDateTime(result.created_at) });
      receipt.hidden = false;
      await loadRequests();
    });
  });
}

async function load() {
  await guarded(async () => {
    await loadAppointments();
    await loadConsents();
    await loadRequests();
  });
}

export const health = { setup, load, errorText };
