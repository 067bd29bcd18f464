// The in-cell device: enrolment, sign-in, the home tiles, Health, and joining a consult.

import {
  ApiError,
  api,
  clearError,
  currentAccount,
  el,
  errorText,
  flash,
  formatDateTime,
  formatTime,
  setupLanguageSwitch,
  setupSignOut,
  show,
  showError,
  signedInAs,
  t,
} from "./common.js";
import { recall } from "./consult_memory.js";
import { forgetSession } from "./offline_queue.js";
import { health } from "./device_health.js";
import { mountInbox } from "./inbox.js";

const CREDENTIAL_KEY = "tc_device_credential";
const state = { account: null, inbox: null };

function credential() {
  return window.localStorage.getItem(CREDENTIAL_KEY);
}

function forgetDevice() {
  window.localStorage.removeItem(CREDENTIAL_KEY);
}

function setStatus(text) {
  document.getElementById("status").textContent = text || "";
}

// ------------------------------------------------------------ enrolment

function setupEnrolment() {
  const form = document.getElementById("enrol-form");
  const error = document.getElementById("enrol-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const code = form.code.value.trim();
    if (!code) {
      showError(error, t("error.enrolment_code_invalid"));
      return;
    }
    try {
      const result = await api("POST", "/api/devices/enrol", { code });
      window.localStorage.setItem(CREDENTIAL_KEY, result.device_credential);
    } catch (failure) {
      showError(error, failure);
      return;
    }
    form.reset();
    setStatus(t("enrol.done"));
    show("screen-signin");
  });
}

// -------------------------------------------------------------- sign-in

function signInRefusal(failure) {
  if (!(failure instanceof ApiError)) return errorText(failure);
  const body = failure.body || {};
  if (failure.code === "invalid_credentials") {
    const left = body.attempts_left;
    if (left === 1) return `${t("signin.wrong")} ${t("signin.attempts_left_one")}`;
    if (typeof left === "number") return `${t("signin.wrong")} ${t("signin.attempts_left", { n: left })}`;
    return t("signin.wrong");
  }
  if (failure.code === "locked_out") {
    return body.locked_until
      ? t("signin.locked", { time: formatTime(body.locked_until) })
      : t("signin.locked_soon");
  }
  if (failure.code === "invalid_request") return t("signin.wrong");
  return errorText(failure);
}

function setupSignIn() {
  const form = document.getElementById("signin-form");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const number = form.prison_number.value.trim().toUpperCase().replace(/\s+/g, "");
    const pin = form.pin.value.trim();
    if (!/^[A-Z][0-9]{4}[A-Z]{2}$/.test(number)) {
      showError(error, t("signin.need_number"));
      form.prison_number.focus();
      return;
    }
    if (!/^[0-9]{4,8}$/.test(pin)) {
      showError(error, t("signin.need_pin"));
      form.pin.focus();
      return;
    }
    try {
      await api(
        "POST",
        "/api/auth/prisoner",
        { prison_number: number, pin, session: "cookie" },
        { headers: { Authorization: `Device ${credential()}` } },
      );
    } catch (failure) {
      form.pin.value = "";
      if (failure instanceof ApiError && failure.code === "device_not_enrolled") {
        forgetDevice();
        show("screen-enrol");
        showError(document.getElementById("enrol-error"), failure);
        return;
      }
      showError(error, signInRefusal(failure));
      form.pin.focus();
      return;
    }
    // Reload so the page comes back in this prisoner's own language.
    window.location.hash = "#home";
    window.location.reload();
  });
}

// ------------------------------------------------------- notices and offers

function offerButton(notice) {
  if (notice.kind !== "rebook_offer" || !notice.fields.offer) return [];
  return [el("a", { class: "button primary", href: `#offer/${notice.fields.offer}`, text: t("offer.choose") })];
}

async function showOffer(offerId) {
  const list = document.getElementById("offer-times");
  const error = document.getElementById("offer-error");
  clearError(error);
  list.replaceChildren();
  let offer;
  try {
    offer = await api("GET", `/api/rebooking-offers/${encodeURIComponent(offerId)}`);
  } catch (failure) {
    showError(error, failure);
    return;
  }
  if (offer.taken || offer.expired) {
    showError(error, t(offer.taken ? "offer.taken" : "offer.expired"));
    return;
  }
  list.replaceChildren(
    ...offer.times.map((time) => {
      const button = el("button", {
        type: "button",
        class: "button primary big",
        "data-time": time,
        text: t("offer.take", { time: formatDateTime(time) }),
      });
      button.addEventListener("click", async () => {
        clearError(error);
        for (const b of list.querySelectorAll("button")) b.disabled = true;
        try {
          const booked = await api("POST", `/api/rebooking-offers/${encodeURIComponent(offerId)}/take`, {
            starts_at: time,
          });
          // After the route's own clearing of the flash, which runs first on this change.
          const done = t("offer.booked", { time: formatDateTime(booked.starts_at) });
          window.addEventListener("hashchange", () => flash(done), { once: true });
          window.location.hash = "#health";
        } catch (failure) {
          for (const b of list.querySelectorAll("button")) b.disabled = false;
          showError(error, failure);
        }
      });
      return el("li", {}, button);
    }),
  );
}

// ------------------------------------------------------------- routing

async function route() {
  flash("");
  if (!credential()) {
    show("screen-enrol");
    return;
  }
  if (!state.account) {
    show("screen-signin");
    return;
  }
  const hash = window.location.hash.replace(/^#/, "");
  const [name, arg] = hash.split("/");
  if (name === "health") {
    show("screen-health");
    await health.load(state.account);
  } else if (name === "money") {
    show("screen-money");
    const { money } = await import("./device_money.js");
    await money.load();
  } else if (name === "shop") {
    show("screen-shop");
    const { shop } = await import("./device_shop.js");
    await shop.load();
  } else if (name === "offer" && arg) {
    show("screen-offer");
    await showOffer(arg);
  } else if (name === "applications") {
    show("screen-applications");
    const { applications } = await import("./device_applications.js");
    await applications.load();
  } else if (name === "visits") {
    show("screen-visits");
    const { visits } = await import("./device_visits.js");
    await visits.load();
  } else if (name === "timetable") {
    show("screen-timetable");
    const { timetable } = await import("./device_timetable.js");
    await timetable.load();
  } else if (name === "soon") {
    show("screen-soon");
  } else if (name === "testcall") {
    show("screen-testcall");
    const { testcall } = await import("./device_testcall.js");
    testcall.start(arg).catch((failure) => flash(errorText(failure)));
  } else if (name === "consult" && arg) {
    show("screen-consult");
    const { consult } = await import("./device_consult.js");
    consult.start(arg, state.account).catch((failure) => flash(errorText(failure)));
  } else {
    show("screen-home");
    if (state.inbox) state.inbox.refresh().catch(() => {});
    import("./device_testcall.js").then(({ testcall }) => testcall.offer()).catch(() => {});
    import("./device_incentive.js").then(({ incentive }) => incentive.show()).catch(() => {});
    showLockdownBanner().catch(() => {});
  }
}

/** The banner on the home screen while a lockdown is in force at the prisoner's establishment. */
async function showLockdownBanner() {
  const banner = document.getElementById("lockdown-banner");
  const { lockdown } = await api("GET", "/api/lockdown-status");
  if (!lockdown) {
    banner.hidden = true;
    return;
  }
  const time = formatDateTime(lockdown.ends_at);
  const modules = lockdown.closed.map((m) => t(`module.${m}`)).join(", ");
  if (lockdown.kind === "communications") banner.textContent = t("device.restriction_banner", { time });
  else if (modules) banner.textContent = t("device.lockdown_banner", { time, modules });
  else banner.textContent = t("device.lockdown_banner_none", { time });
  banner.hidden = false;
}

/** Called whenever an API call finds the session gone (expired, revoked). */
export function sessionLost(failure, ended = false) {
  state.account = null;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  show("screen-signin");
  const words = failure ? errorText(failure) : t(ended ? "signin.ended" : "signin.expired");
  showError(document.getElementById("signin-error"), words);
}

async function main() {
  setupEnrolment();
  setupSignIn();
  setupLanguageSwitch(() => state.account !== null);
  setupSignOut(() => {
    forgetSession();
    state.account = null;
    window.location.hash = "";
    show("screen-signin");
  });
  health.setup(sessionLost);
  if (credential()) {
    try {
      const account = await currentAccount();
      if (account && account.role === "prisoner") {
        state.account = account;
        signedInAs(account);
      }
    } catch (failure) {
      flash(errorText(failure));
    }
  }
  window.addEventListener("hashchange", () => {
    route().catch((failure) => flash(errorText(failure)));
  });
  window.addEventListener("tc:signedout", (event) =>
    sessionLost(null, Boolean(event.detail && event.detail.ended)),
  );
  // A kiosk that restarted (or a page reloaded) in the middle of a consult goes back to it.
  const inConsult = state.account ? recall() : null;
  const hash = window.location.hash.replace(/^#/, "");
  if (inConsult && !inConsult.left && (hash === "" || hash === "home")) {
    window.history.replaceState(null, "", `#consult/${inConsult.appointment}`);
  }
  if (state.account) {
    state.inbox = mountInbox(document.getElementById("inbox"), { actions: offerButton });
    state.inbox.start().catch((failure) => flash(errorText(failure)));
  }
  await route();
  document.body.dataset.ready = "true";
}

main().catch((failure) => flash(errorText(failure)));
