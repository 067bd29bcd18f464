// The day's operations board for managers and officers: every consult of the day and where
// it stands now (expected, waiting, in call, away, ended), asked again every few seconds.
// Officers see times, names, numbers and cells; managers also the service and clinician.
// Nothing clinical is ever on it.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const EVERY_MS = 5000;
const STATUSES = ["expected", "waiting", "in_call", "away", "ended"];
const state = { timer: null, detail: false };

function render(board) {
  const body = document.getElementById("operations-rows");
  state.detail = board.consults.some((c) => "service" in c);
  for (const th of document.querySelectorAll(".detail-only")) th.hidden = !state.detail;
  const columns = state.detail ? 6 : 4;
  // A live region: written only when the counts change, so it is not read out every poll.
  const counts = STATUSES.map((s) => `${t(`operations.status_${s}`)}: ${board.counts[s]}`).join("; ");
  const region = document.getElementById("operations-counts");
  if (region.textContent !== counts) region.textContent = counts;
  document.getElementById("operations-updated").textContent = t("operations.updated", {
    time: formatTime(new Date().toISOString()),
  });
  if (!board.consults.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: String(columns), text: t("operations.none") })));
    return;
  }
  body.replaceChildren(
    ...board.consults.map((c) => {
      const who = c.prison_number ? `${c.prisoner_name} (${c.prison_number})` : c.prisoner_name || "";
      const cells = [
        el("td", { text: `${formatTime(c.starts_at)}–${formatTime(c.ends_at)}` }),
        el("td", { text: who }),
        el("td", { text: c.cell || t("operations.no_cell") }),
      ];
      if (state.detail) {
        cells.push(el("td", { text: c.service || "" }), el("td", { text: c.clinician || "" }));
      }
      cells.push(el("td", {}, el("span", { class: `status status-${c.live}`, text: t(`operations.status_${c.live}`) })));
      return el("tr", { "data-appointment": c.appointment_id, "data-live": c.live }, ...cells);
    }),
  );
}

async function refresh() {
  const error = document.getElementById("operations-error");
  try {
    render(await api("GET", "/api/operations/board"));
    clearError(error);
  } catch (failure) {
    showError(error, failure);
  }
}

function keepFresh() {
  clearInterval(state.timer);
  state.timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["manager", "officer", "admin"]);
  if (account) {
    show("screen-operations");
    await refresh();
    keepFresh();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
