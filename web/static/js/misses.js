// The to-do list of misses: appointments whose window closed with no outcome recorded
// ("not recorded", marked by the server's job), shown to their clinician and to managers
// until someone codes each one: seen, or did not attend with a reason (the reason carries
// its cause: prison, patient or clinician).

import { api, clearError, el, formatDateTime, reasonLabel, showError, t } from "./common.js";

let reasons = null;

function reasonSelect(id) {
  return el(
    "select",
    { id, name: "reason" },
    // No reason chosen until someone chooses one: a slip must not record a prison-caused miss.
    el("option", { value: "", text: t("outcome.choose_reason") }),
    ...reasons.filter((r) => r.cause !== "clinician").map((r) => el("option", { value: r.code, text: reasonLabel(r) })),
  );
}

async function load() {
  const list = document.getElementById("misses-list");
  const error = document.getElementById("misses-error");
  clearError(error);
  if (reasons === null) reasons = await api("GET", "/api/reasons");
  const misses = await api("GET", "/api/misses");
  if (misses.length === 0) {
    list.replaceChildren(el("li", { text: t("clinician.misses_none") }));
    return;
  }
  list.replaceChildren(
    ...misses.map((m) => {
      const selectId = `miss-reason-${m.id}`;
      const code = el("button", { type: "button", class: "button primary", text: t("clinician.misses_code") });
      const seen = el("button", { type: "button", class: "button secondary", text: t("clinician.misses_seen") });
      const item = el(
        "li",
        { class: "card", "data-miss": m.id },
        el("p", { text: formatDateTime(m.starts_at) }),
        el("div", { class: "field" }, el("label", { for: selectId, text: t("clinician.misses_reason") }), reasonSelect(selectId)),
        code,
        seen,
      );
      const act = async (path, body) => {
        clearError(error);
        try {
          await api("POST", `/api/appointments/${encodeURIComponent(m.id)}/${path}`, body);
          await load();
        } catch (failure) {
          showError(error, failure);
        }
      };
      code.addEventListener("click", () => act("did-not-attend", { reason: document.getElementById(selectId).value }));
      seen.addEventListener("click", () => act("attended", {}));
      return item;
    }),
  );
}

export const misses = {
  start: () => load().catch((failure) => showError(document.getElementById("misses-error"), failure)),
};
