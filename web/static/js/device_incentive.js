// The prisoner's own incentive level on the home screen, with why it last changed.

import { api, el, formatDate, t } from "./common.js";

async function show() {
  const panel = document.getElementById("incentive");
  const mine = await api("GET", "/api/me/incentive");
  const level = t(`level.${mine.level}`);
  const since = mine.since ? ` ${t("device.incentive_since", { date: formatDate(mine.since) })}` : "";
  document.getElementById("incentive-level").textContent = `${t("device.incentive_now", { level })}${since}`;
  panel.dataset.level = mine.level;
  const why = document.getElementById("incentive-why");
  why.hidden = mine.history.length === 0;
  document.getElementById("incentive-history").replaceChildren(
    ...mine.history.map((c) =>
      el("li", {
        text: t("device.incentive_change", {
          when: formatDate(c.at),
          from: t(`level.${c.from_level}`),
          to: t(`level.${c.level}`),
          reason: c.reason || "",
        }),
      }),
    ),
  );
  panel.hidden = false;
}

export const incentive = { show };
