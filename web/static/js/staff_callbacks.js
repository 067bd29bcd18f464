// Call-backs: a health worker could not get through by video (nor by sound) and will phone
// instead. Staff bring the person to a phone or a room, by wing and cell, then mark it done.
// Who, where and when only: the API gives nothing about what the appointment is for.

import { api, el, formatTime, t } from "./common.js";

const REFRESH_MS = 10000;
let timer = null;

function item(task) {
  const unknown = t("officer.unknown_place");
  return el(
    "li",
    { class: "problem", "data-call-back": task.id, "data-cell": task.cell || "" },
    el("p", {
      class: "card-title",
      text: t("officer.call_back_item", {
        name: task.prisoner_name || unknown,
        number: task.prison_number || unknown,
        cell: task.cell || unknown,
        wing: task.wing || unknown,
      }),
    }),
    el("p", {
      text: t("officer.call_back_detail", {
        time: formatTime(task.requested_at),
        consult: formatTime(task.consult_at),
      }),
    }),
    el("button", {
      type: "button",
      class: "button secondary",
      "data-done": task.id,
      "aria-label": `${t("officer.call_back_done")}: ${task.prisoner_name || ""} ${task.cell || ""}`,
      text: t("officer.call_back_done"),
    }),
  );
}

async function refresh() {
  const list = document.getElementById("call-backs");
  try {
    const found = await api("GET", "/api/call-backs");
    list.replaceChildren(...(found.length ? found.map(item) : [el("li", { text: t("officer.call_backs_none") })]));
  } catch {
    list.replaceChildren(el("li", { text: t("officer.unavailable") }));
  }
}

async function load() {
  const list = document.getElementById("call-backs");
  list.onclick = async (event) => {
    const button = event.target.closest("button[data-done]");
    if (!button) return;
    button.disabled = true;
    try {
      await api("POST", `/api/call-backs/${encodeURIComponent(button.dataset.done)}/done`);
    } finally {
      await refresh();
    }
  };
  clearInterval(timer);
  await refresh();
  timer = setInterval(() => {
    refresh().catch(() => {});
  }, REFRESH_MS);
}

export const callBacks = { load, refresh };
