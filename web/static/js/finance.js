// Finance: post credits (wages, money sent in, refunds) from a CSV file, after a preview
// that names every bad line; nothing is posted if any line is bad, and the same file is
// never posted twice (the server refuses it). Look up a prisoner's money (logged).

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatDateTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";
import { accountName, balancesText, entryItem, pounds } from "./money_words.js";

const form = document.getElementById("credits-form");
const error = document.getElementById("credits-error");
const preview = document.getElementById("credits-preview");
const postButton = document.getElementById("credits-post");
const result = document.getElementById("credits-result");
let checked = null;

function problemItem(p) {
  return el("li", { class: "error", text: t("finance.problem_line", { line: p.line, problem: t(`finance.problem_${p.problem}`) }) });
}

function lineRow(line) {
  return el(
    "tr",
    {},
    el("td", { text: String(line.line) }),
    el("td", { text: line.prison_number }),
    el("td", { text: accountName(line.account) }),
    el("td", { text: t(`finance.kind_${line.kind}`) }),
    el("td", { text: pounds(line.amount_pence) }),
    el("td", { text: line.reference }),
  );
}

function showPreview(found) {
  preview.hidden = false;
  document.getElementById("preview-problems").replaceChildren(...found.problems.map(problemItem));
  document.querySelector("#preview-table tbody").replaceChildren(...found.lines.map(lineRow));
  let summary;
  if (found.problems.length) {
    summary = t("finance.preview_bad", { n: found.problems.length });
  } else if (found.posted_at) {
    summary = t("finance.preview_posted_before", { when: formatDateTime(found.posted_at) });
  } else {
    summary = t("finance.preview_ok", { n: found.lines.length, total: pounds(found.total_pence) });
  }
  document.getElementById("preview-summary").textContent = summary;
  const ready = !found.problems.length && !found.posted_at;
  postButton.hidden = !ready;
  postButton.textContent = t("finance.post", { n: found.lines.length, total: pounds(found.total_pence) });
  document.getElementById("preview-heading").focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError(error);
  result.textContent = "";
  result.hidden = true;
  preview.hidden = true;
  checked = null;
  const file = form.file.files[0];
  if (!file) {
    showError(error, t("finance.need_file"));
    return;
  }
  try {
    const text = await file.text();
    const found = await api("POST", "/api/kiosk/money/credits/preview", { csv: text });
    checked = text;
    showPreview(found);
  } catch (failure) {
    showError(error, failure);
  }
});

postButton.addEventListener("click", async () => {
  if (checked === null) return;
  clearError(error);
  postButton.disabled = true;
  try {
    const batch = await api("POST", "/api/kiosk/money/credits", { csv: checked });
    preview.hidden = true;
    checked = null;
    form.reset();
    result.textContent = t("finance.posted", { n: batch.lines, total: pounds(batch.total_pence) });
    result.hidden = false;
  } catch (failure) {
    if (failure.body && failure.body.reason === "already_posted") {
      showError(error, t("finance.already_posted"));
    } else {
      showError(error, failure);
    }
  } finally {
    postButton.disabled = false;
  }
});

const lookup = document.getElementById("lookup-form");
lookup.addEventListener("submit", async (event) => {
  event.preventDefault();
  const lookupError = document.getElementById("lookup-error");
  const box = document.getElementById("lookup-result");
  clearError(lookupError);
  box.hidden = true;
  const number = lookup.prison_number.value.trim().toUpperCase();
  if (!/^[A-Z][0-9]{4}[A-Z]{2}$/.test(number)) {
    showError(lookupError, t("finance.bad_number"));
    return;
  }
  try {
    const found = await api("GET", `/api/kiosk/money/prisoners?prison_number=${encodeURIComponent(number)}`);
    document.getElementById("lookup-balances").textContent = balancesText(found.balances);
    document.getElementById("lookup-entries").replaceChildren(
      ...(found.entries.length ? found.entries.map(entryItem) : [el("li", { text: t("money.none_staff") })]),
    );
    box.hidden = false;
  } catch (failure) {
    showError(lookupError, failure);
  }
});

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["department_staff"]);
  if (account) show("screen-finance");
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
