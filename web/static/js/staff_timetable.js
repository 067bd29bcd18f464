// Officers: each prisoner's weekly activities (work, education, gym), which their device's
// Timetable shows beside the regime. The server checks the prisoner is of this establishment.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const select = document.getElementById("stt-prisoner");
const list = document.getElementById("stt-list");
const form = document.getElementById("stt-form");
const error = document.getElementById("stt-error");
const result = document.getElementById("stt-result");

function dayName(weekday) {
  return t(`date.day_${(weekday + 1) % 7}`);
}

function card(a) {
  const words = `${dayName(a.weekday)} ${a.start}–${a.end}: ${t(`timetable.kind_${a.kind}`)}`;
  const remove = el("button", {
    type: "button",
    class: "button secondary",
    text: t("stt.remove"),
    "aria-label": `${t("stt.remove")}: ${words}`,
  });
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await api("DELETE", `/api/kiosk/allocations/${encodeURIComponent(a.id)}`);
    } catch (failure) {
      remove.disabled = false;
      showError(error, failure);
      return;
    }
    result.textContent = t("stt.removed");
    await load();
  });
  return el("li", { class: "card", "data-allocation": a.id }, el("p", { text: words }), remove);
}

async function load() {
  if (!select.value) return;
  const found = await api("GET", `/api/kiosk/prisoners/${encodeURIComponent(select.value)}/allocations`);
  list.replaceChildren(...(found.length ? found.map(card) : [el("li", { text: t("stt.none") })]));
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["officer"]);
  if (account) {
    show("screen-timetable");
    const roll = await api("GET", "/api/prisoners");
    select.replaceChildren(
      ...roll.map((p) => el("option", { value: p.prisoner_id, text: `${p.name} (${p.prison_number})` })),
    );
    select.addEventListener("change", () => {
      result.textContent = "";
      load().catch((failure) => flash(errorText(failure)));
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearError(error);
      if (!form.start.value || !form.end.value) {
        showError(error, t("stt.need_times"));
        return;
      }
      try {
        await api("POST", `/api/kiosk/prisoners/${encodeURIComponent(select.value)}/allocations`, {
          kind: form.kind.value,
          weekday: Number(form.weekday.value),
          start: form.start.value,
          end: form.end.value,
        });
      } catch (failure) {
        result.textContent = "";
        showError(error, failure.status === 409 ? t("stt.overlap") : failure);
        return;
      }
      result.textContent = t("stt.added");
      await load();
    });
    await load();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
