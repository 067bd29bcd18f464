// The clinician's calendar link: an iCalendar feed of their consults (times and service only)
// behind a secret address. The secret is shown once, when made, with a button to copy it; the
// links in force are listed by when they were made, each with Revoke (a revoked link answers 404).

import { api, clearError, el, formatDateTime, showError, t } from "./common.js";

function node(id) {
  return document.getElementById(id);
}

async function load() {
  const links = await api("GET", "/api/calendar-tokens");
  const list = node("calendar-links");
  if (!links.length) {
    list.replaceChildren(el("li", { text: t("calendar.none") }));
    return;
  }
  list.replaceChildren(
    ...links.map((link) => {
      const made = formatDateTime(link.created_at);
      return el(
        "li",
        { "data-calendar-link": link.id },
        el("p", { text: t("calendar.made", { when: made }) }),
        el("button", {
          type: "button",
          class: "button secondary",
          "data-revoke": link.id,
          "aria-label": `${t("calendar.revoke")}: ${t("calendar.made", { when: made })}`,
          text: t("calendar.revoke"),
        }),
      );
    }),
  );
}

async function make() {
  const made = await api("POST", "/api/calendar-tokens");
  node("calendar-url").value = new URL(made.url, window.location.origin).href;
  node("calendar-new").hidden = false;
  node("calendar-status").textContent = t("calendar.made_now");
  await load();
  node("calendar-url").focus();
  node("calendar-url").select();
}

async function copy() {
  const input = node("calendar-url");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // No clipboard permission: the link is selected for the clinician to copy by hand.
    input.focus();
    input.select();
    node("calendar-status").textContent = t("calendar.copy_by_hand");
    return;
  }
  node("calendar-status").textContent = t("calendar.copied");
}

async function revoke(id) {
  await api("DELETE", `/api/calendar-tokens/${encodeURIComponent(id)}`);
  node("calendar-new").hidden = true;
  node("calendar-url").value = "";
  node("calendar-status").textContent = t("calendar.revoked");
  await load();
}

function guarded(action) {
  return (...args) => {
    clearError(node("calendar-error"));
    action(...args).catch((failure) => showError(node("calendar-error"), failure));
  };
}

async function start() {
  node("calendar-make").addEventListener("click", guarded(make));
  node("calendar-copy").addEventListener("click", guarded(copy));
  node("calendar-links").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-revoke]");
    if (button) guarded(revoke)(button.dataset.revoke);
  });
  await load().catch((failure) => showError(node("calendar-error"), failure));
}

export const calendar = { start };
