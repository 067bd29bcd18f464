// The manager's report settings: the shortest consult and the escort cost with its source
// (PUT /api/establishments/{id}/report-settings). The server checks everything again; this
// form only names the field that is wrong before asking it.

import { api, clearError, showError, t } from "./common.js";

const MAX_MINUTES = 60;
const MAX_POUNDS = 100000;

function form() {
  return document.getElementById("settings-form");
}

function establishment() {
  return document.getElementById("range-establishment").value;
}

function pounds(pence) {
  return (pence / 100).toFixed(2);
}

function describe(settings) {
  const cost =
    settings.escort_cost_pence === null
      ? t("settings.saved_no_cost")
      : t("settings.saved_cost", { n: pounds(settings.escort_cost_pence), source: settings.escort_cost_source });
  return t("settings.saved", { min: settings.min_consult_s / 60, cost });
}

function fill(settings) {
  const f = form();
  f.min_minutes.value = String(settings.min_consult_s / 60);
  f.cost_pounds.value = settings.escort_cost_pence === null ? "" : pounds(settings.escort_cost_pence);
  f.source.value = settings.escort_cost_source || "";
}

async function load() {
  const id = establishment();
  const error = document.getElementById("settings-error");
  clearError(error);
  document.getElementById("settings-saved").textContent = "";
  if (!id) return;
  try {
    fill(await api("GET", `/api/establishments/${encodeURIComponent(id)}/report-settings`));
  } catch (failure) {
    showError(error, failure);
  }
}

// The body to send, or the field that is wrong (its input and the words to show).
function read() {
  const f = form();
  const minutes = Number(f.min_minutes.value);
  if (f.min_minutes.value.trim() === "" || !Number.isFinite(minutes) || minutes < 0 || minutes > MAX_MINUTES) {
    return { wrong: f.min_minutes, text: t("settings.error_min") };
  }
  const costText = f.cost_pounds.value.trim();
  const cost = Number(costText);
  if (costText !== "" && (!Number.isFinite(cost) || cost < 0 || cost > MAX_POUNDS)) {
    return { wrong: f.cost_pounds, text: t("settings.error_cost") };
  }
  const source = f.source.value.trim();
  if (costText !== "" && (!source || source.length > 200)) {
    return { wrong: f.source, text: t("settings.error_source") };
  }
  return {
    body: {
      min_consult_s: Math.round(minutes * 60),
      escort_cost_pence: costText === "" ? null : Math.round(cost * 100),
      escort_cost_source: costText === "" ? null : source,
    },
  };
}

async function save(event) {
  event.preventDefault();
  const f = form();
  const error = document.getElementById("settings-error");
  const saved = document.getElementById("settings-saved");
  clearError(error);
  saved.textContent = "";
  for (const input of f.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  const { body, wrong, text } = read();
  if (wrong) {
    wrong.setAttribute("aria-invalid", "true");
    showError(error, text);
    wrong.focus();
    return;
  }
  let settings;
  try {
    settings = await api("PUT", `/api/establishments/${encodeURIComponent(establishment())}/report-settings`, body);
  } catch (failure) {
    showError(error, failure);
    return;
  }
  fill(settings);
  saved.textContent = describe(settings);
  // The dashboard's figures follow the new settings at once.
  document.getElementById("range-form").requestSubmit();
}

async function start() {
  form().addEventListener("submit", save);
  document.getElementById("range-establishment").addEventListener("change", load);
  await load();
}

export const reportSettings = { start };
