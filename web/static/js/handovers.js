// Hand-overs to community services (issue 14): one per released prisoner, each with where its
// sending stands (kept, sending, sent, or failing with the number of tries and why, in words)
// and a link that downloads its FHIR Bundle. The download is an ordinary link: the session
// cookie authorises it and the server logs the reading.

import { api, clearError, el, formatDateTime, showError, t } from "./common.js";

function why(code) {
  if (code && code.startsWith("http_")) return t("manager.handover_error_http", { code: code.slice(5) });
  if (code === "no_endpoint") return t("manager.handover_error_no_endpoint");
  return t("manager.handover_error_unreachable");
}

function statusText(h) {
  if (h.status === "sent") return t("manager.handover_status_sent", { when: formatDateTime(h.sent_at) });
  if (h.status === "failing") return t("manager.handover_status_failing", { n: h.attempts, why: why(h.last_error) });
  if (h.status === "failed") return t("manager.handover_status_failed", { n: h.attempts, why: why(h.last_error) });
  if (h.status === "sending") return t("manager.handover_status_sending");
  return t("manager.handover_status_held");
}

async function load() {
  const list = document.getElementById("handover-list");
  const error = document.getElementById("handover-error");
  clearError(error);
  const found = await api("GET", "/api/handover");
  if (found.length === 0) {
    list.replaceChildren(el("li", { text: t("manager.handover_none") }));
    return;
  }
  list.replaceChildren(
    ...found.map((h) => {
      const who = h.prison_number ? `${h.name} (${h.prison_number})` : h.name;
      return el(
        "li",
        { class: `card handover-${h.status}`, "data-handover": h.id },
        el("p", { text: t("manager.handover_item", { who, when: formatDateTime(h.released_at) }) }),
        el("p", { class: h.status.startsWith("fail") ? "error" : undefined, text: statusText(h) }),
        el("a", {
          href: `/api/handovers/${encodeURIComponent(h.id)}/bundle`,
          download: `handover-${h.id}.json`,
          class: "button secondary",
          text: t("manager.handover_download", { who }),
        }),
      );
    }),
  );
}

export const handovers = {
  start: () => {
    document.getElementById("handover-panel").hidden = false;
    return load().catch((failure) => showError(document.getElementById("handover-error"), failure));
  },
};
