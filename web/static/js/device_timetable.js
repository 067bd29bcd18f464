// The prisoner's week on the device: the regime, their activities and the times of their
// health appointments (never what for), Monday to Sunday, each day under its own heading.

import { ApiError, api, clearError, el, formatDate, formatTime, showError, t } from "./common.js";
import { sessionLost } from "./device.js";

function what(entry) {
  if (entry.kind === "regime") return entry.label || t("timetable.kind_regime");
  return t(`timetable.kind_${entry.kind}`);
}

function dayOf(startsOn, offset) {
  const d = new Date(`${startsOn}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + offset);
  return d.toISOString();
}

async function load() {
  const error = document.getElementById("timetable-error");
  const root = document.getElementById("timetable-days");
  clearError(error);
  let week;
  try {
    week = await api("GET", "/api/kiosk/timetable");
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return sessionLost(failure);
    showError(error, failure);
    return;
  }
  const days = [];
  for (let i = 0; i < 7; i += 1) {
    const heading = formatDate(dayOf(week.starts_on, i));
    const entries = week.entries.filter((e) => formatDate(e.starts_at) === heading);
    days.push(
      el(
        "section",
        { class: "timetable-day", "aria-label": heading },
        el("h2", { text: heading }),
        entries.length
          ? el(
              "ul",
              { class: "plain-list" },
              ...entries.map((e) =>
                el(
                  "li",
                  { class: `entry entry-${e.kind}`, "data-kind": e.kind },
                  el("strong", { text: `${formatTime(e.starts_at)}–${formatTime(e.ends_at)} ` }),
                  what(e),
                ),
              ),
            )
          : el("p", { class: "hint", text: t("timetable.nothing") }),
      ),
    );
  }
  root.replaceChildren(...days);
}

export const timetable = { load };
