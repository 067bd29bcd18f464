// Equipment problems found by the devices' own connection tests, by wing and cell, so that staff
// can fix them before the appointment. Times and places only: the appointment's time, never
// what it is for (the API gives nothing else).

import { api, el, formatTime, t } from "./common.js";

const REFRESH_MS = 30000;
let timer = null;

function alertItem(alert) {
  return el(
    "li",
    { class: "problem", "data-alert": alert.id, "data-cell": alert.cell },
    ...alert.problems.map((problem) =>
      el("p", { class: "card-title", text: t(`officer.alert_${problem}`, { cell: alert.cell }) }),
    ),
    el("p", {
      text: t("officer.alert_detail", {
        wing: alert.wing,
        time: formatTime(alert.at),
        consult: formatTime(alert.consult_at),
      }),
    }),
  );
}

async function refresh() {
  const list = document.getElementById("test-call-alerts");
  try {
    const found = await api("GET", "/api/test-call-alerts");
    list.replaceChildren(
      ...(found.length ? found.map(alertItem) : [el("li", { text: t("officer.alerts_none") })]),
    );
  } catch {
    list.replaceChildren(el("li", { text: t("officer.unavailable") }));
  }
}

async function load() {
  clearInterval(timer);
  await refresh();
  timer = setInterval(() => {
    refresh().catch(() => {});
  }, REFRESH_MS);
}

export const testCallAlerts = { load, refresh };
