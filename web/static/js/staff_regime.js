// Regime windows, lockdown and today's appointments for officers.
// Officers see whom to bring where and when (name, prison number, cell, time), never what
// the appointment is for: the appointments API gives an officer nothing clinical.

import { api, clearError, el, formatDateTime, formatTime, serverNow, showError, t } from "./common.js";

// Lockdowns in force or to come at the officer's establishment, as the server has them.
let lockdowns = [];

async function loadLockdowns() {
  lockdowns = await api("GET", "/api/lockdowns");
  showLockdown();
}

// What a lockdown closes, in the reader's words: the modules registered with the server's
// suspension mechanism (none until the kiosk, campus and interventions register).
export function closedText(modules) {
  if (!modules || modules.length === 0) return t("officer.lockdown_closed_none");
  return t("officer.lockdown_closed", { modules: modules.map((m) => t(`module.${m}`)).join(", ") });
}

function showLockdown() {
  const current = lockdowns.find((x) => x.kind === "lockdown") || null;
  const state = document.getElementById("lockdown-state");
  if (!current) state.textContent = t("officer.lockdown_off");
  else if (Date.parse(current.starts_at) <= serverNow()) {
    state.textContent = [
      t("officer.lockdown_on"),
      t("officer.lockdown_until_time", { time: formatDateTime(current.ends_at) }),
      closedText(current.suspended),
      t("officer.lockdown_going_ahead"),
    ].join(" ");
  } else {
    state.textContent = t("officer.lockdown_upcoming", {
      from: formatDateTime(current.starts_at),
      to: formatDateTime(current.ends_at),
    });
  }
  state.dataset.lockdown = current ? current.id : "";
  document.getElementById("lockdown-declare").hidden = Boolean(current);
  document.getElementById("lockdown-lift").hidden = !current;
}

async function loadRegime() {
  const list = document.getElementById("regime-list");
  const windows = await api("GET", "/api/regime-windows");
  windows.sort((a, b) => a.weekday - b.weekday || a.start.localeCompare(b.start));
  list.replaceChildren(
    ...(windows.length
      ? windows.map((w) =>
          el(
            "li",
            { "data-window": w.id },
            el("span", { text: `${t(`day.${w.weekday}`)} ${w.start}–${w.end}: ${w.label} ` }),
            el("button", {
              type: "button",
              class: "button secondary",
              "data-remove": w.id,
              "aria-label": `${t("officer.regime_remove")}: ${t(`day.${w.weekday}`)} ${w.start} ${w.label}`,
              text: t("officer.regime_remove"),
            }),
          ),
        )
      : [el("li", { text: t("officer.regime_none") })]),
  );
}

async function loadAppointments() {
  const body = document.getElementById("officer-appointments");
  const now = new Date(serverNow());
  const from = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const to = new Date(from.getTime() + 24 * 3600 * 1000);
  const items = await api("GET", `/api/appointments?${new URLSearchParams({ from: from.toISOString(), to: to.toISOString() })}`);
  items.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  body.replaceChildren(
    ...(items.length
      ? items.map((a) =>
          el(
            "tr",
            { "data-appointment": a.id },
            el("td", { text: `${formatTime(a.starts_at)}–${formatTime(a.ends_at)}` }),
            el("td", { text: a.prisoner_name || t("officer.unknown") }),
            el("td", { text: a.prison_number || t("officer.unknown") }),
            el("td", { text: a.cell || t("officer.cell_unknown") }),
          ),
        )
      : [el("tr", {}, el("td", { colspan: "4", text: t("officer.appointments_none") }))]),
  );
}

function setup() {
  const lockForm = document.getElementById("lockdown-form");
  const lockError = document.getElementById("lockdown-error");
  const until = new Date(serverNow() + 24 * 3600 * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  lockForm.until.value = `${until.getFullYear()}-${pad(until.getMonth() + 1)}-${pad(until.getDate())}T${pad(until.getHours())}:${pad(until.getMinutes())}`;
  const confirmBox = document.getElementById("lockdown-confirm");
  lockForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(lockError);
    if (!lockForm.until.value) {
      showError(lockError, t("error.invalid_request"));
      return;
    }
    // Say what will happen before it does.
    try {
      const { modules } = await api("GET", "/api/suspensions");
      document.getElementById("lockdown-confirm-closed").textContent = closedText(modules);
    } catch (failure) {
      showError(lockError, failure);
      return;
    }
    confirmBox.hidden = false;
    document.getElementById("lockdown-confirm-yes").focus();
  });
  document.getElementById("lockdown-confirm-no").addEventListener("click", () => {
    confirmBox.hidden = true;
  });
  document.getElementById("lockdown-confirm-yes").addEventListener("click", async () => {
    confirmBox.hidden = true;
    try {
      // From now, by the server's clock.
      const lockdown = await api("POST", "/api/lockdowns", {
        ends_at: new Date(lockForm.until.value).toISOString(),
      });
      await loadLockdowns();
      document.getElementById("lockdown-state").textContent = [
        t("officer.lockdown_declared", {
          time: formatTime(lockdown.ends_at),
          n: (lockdown.affected || []).length,
          m: lockdown.going_ahead || 0,
        }),
        closedText(lockdown.suspended),
      ].join(" ");
    } catch (failure) {
      showError(lockError, failure);
    }
  });
  document.getElementById("lockdown-lift").addEventListener("click", async () => {
    clearError(lockError);
    const current = lockdowns.find((x) => x.kind === "lockdown");
    if (!current) return;
    try {
      await api("POST", `/api/lockdowns/${encodeURIComponent(current.id)}/lift`);
      await loadLockdowns();
    } catch (failure) {
      showError(lockError, failure);
    }
  });

  const regimeForm = document.getElementById("regime-form");
  const regimeError = document.getElementById("regime-error");
  regimeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(regimeError);
    try {
      await api("POST", "/api/regime-windows", {
        label: regimeForm.label.value.trim(),
        weekday: Number(regimeForm.weekday.value),
        start: regimeForm.start.value,
        end: regimeForm.end.value,
      });
      regimeForm.reset();
      await loadRegime();
    } catch (failure) {
      showError(regimeError, failure);
    }
  });
  document.getElementById("regime-list").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-remove]");
    if (!button) return;
    clearError(regimeError);
    try {
      await api("DELETE", `/api/regime-windows/${encodeURIComponent(button.dataset.remove)}`);
      await loadRegime();
    } catch (failure) {
      showError(regimeError, failure);
    }
  });
}

async function load() {
  setup();
  await Promise.all([loadLockdowns(), loadRegime(), loadAppointments()]);
}

export const officer = { load };
