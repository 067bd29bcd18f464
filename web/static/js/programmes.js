// The device's Programmes screen: a questionnaire one question at a time, in large plain words.
//
// A PHQ-9 question 9 answer above 0 shows where to get help now the moment it is chosen, from
// text already in this page (#risk-help): no server round trip, so it works with the link down.
// The server raises the alert for the duty healthcare team when the answers are sent. Each set
// of answers carries an id made here, so sending again after a lost reply stores nothing twice.

import {
  LOCALE,
  api,
  clearError,
  currentAccount,
  el,
  errorText,
  flash,
  setupLanguageSwitch,
  setupSignOut,
  show,
  showError,
  signedInAs,
  t,
} from "./common.js";

const state = { questionnaire: null, steps: [], index: 0, answers: {}, substance: null, clientId: null };

const help = document.getElementById("risk-help");
const form = document.getElementById("question-form");
const options = document.getElementById("question-options");
const error = document.getElementById("question-error");

function english(q) {
  // No validated Welsh translation: the items stay in English and say so (lang="en").
  return LOCALE === "cy" && !q.welsh_validated;
}

function isRisk(itemId, value) {
  const rule = state.questionnaire.risk;
  return Boolean(rule) && itemId === rule.item && Number(value) > rule.above;
}

function showHelp() {
  if (!help.hidden) return;
  help.hidden = false;
  help.scrollIntoView({ block: "start" });
}

function stepsOf(q) {
  const steps = q.items.map((item) => ({ ...item, english: english(q) }));
  if (q.substances) {
    steps.unshift({
      id: "substance",
      text: t("programmes.substance_heading"),
      english: false,
      options: q.substances.map((s) => ({ value: s, text: t(`programmes.substance_${s}`) })),
    });
  }
  return steps;
}

function chosen(step) {
  return step.id === "substance" ? state.substance : state.answers[step.id];
}

function renderStep() {
  const q = state.questionnaire;
  const step = state.steps[state.index];
  clearError(error);
  document.getElementById("question-heading").textContent = q.title;
  document.getElementById("not-welsh").hidden = !english(q);
  document.getElementById("question-progress").textContent = t("programmes.progress", {
    n: state.index + 1,
    total: state.steps.length,
  });
  const legend = document.getElementById("question-text");
  legend.textContent = step.text;
  const stem = document.getElementById("question-stem");
  stem.textContent = step.id === "substance" ? "" : q.stem;
  stem.hidden = step.id === "substance";
  for (const node of [legend, stem]) {
    if (step.english) node.setAttribute("lang", "en");
    else node.removeAttribute("lang");
  }
  const current = chosen(step);
  options.replaceChildren(
    ...step.options.map((option, n) => {
      const id = `option-${n}`;
      const input = el("input", {
        type: "radio",
        name: "answer",
        id,
        value: String(option.value),
        checked: current !== undefined && current !== null && String(current) === String(option.value),
      });
      input.addEventListener("change", () => {
        clearError(error);
        if (step.id === "substance") {
          state.substance = option.value;
        } else {
          state.answers[step.id] = option.value;
          if (isRisk(step.id, option.value)) showHelp();
        }
      });
      return el(
        "div",
        { class: "choice" },
        input,
        el("label", { for: id, text: option.text, lang: step.english ? "en" : null }),
      );
    }),
  );
  document.getElementById("question-back").hidden = false;
  show("screen-question");
}

function start(q) {
  state.questionnaire = q;
  state.steps = stepsOf(q);
  state.index = 0;
  state.answers = {};
  state.substance = null;
  state.clientId = crypto.randomUUID();
  help.hidden = true;
  document.getElementById("risk-help-told").hidden = true;
  renderStep();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const step = state.steps[state.index];
  const value = chosen(step);
  if (value === undefined || value === null) {
    showError(error, t("programmes.pick_one"));
    return;
  }
  if (state.index + 1 < state.steps.length) {
    state.index += 1;
    renderStep();
    return;
  }
  document.getElementById("finish-heading").textContent = state.questionnaire.title;
  show("screen-finish");
});

document.getElementById("question-back").addEventListener("click", () => {
  if (state.index === 0) {
    show("screen-list");
    return;
  }
  state.index -= 1;
  renderStep();
});

document.getElementById("finish-back").addEventListener("click", () => renderStep());

function maxScore(q) {
  return q.items.reduce((sum, item) => sum + Math.max(...item.options.map((o) => o.value)), 0);
}

document.getElementById("finish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = state.questionnaire;
  const finishError = document.getElementById("finish-error");
  const button = document.getElementById("finish-send");
  clearError(finishError);
  const body = { answers: state.answers, client_id: state.clientId };
  if (state.substance) body.substance = state.substance;
  const comment = document.getElementById("comment").value.trim();
  if (comment) body.comment = comment;
  button.disabled = true;
  button.textContent = t("programmes.sending");
  let done;
  try {
    done = await api("POST", `/api/questionnaires/${encodeURIComponent(q.kind)}/responses`, body);
  } catch (failure) {
    showError(finishError, failure);
    return;
  } finally {
    button.disabled = false;
    button.textContent = t("programmes.send");
  }
  document.getElementById("comment").value = "";
  document.getElementById("result-score").textContent = `${t("programmes.score", {
    score: done.score,
    max: maxScore(q),
  })} ${t(`programmes.band_${done.band}`)}`;
  if (done.risk) {
    showHelp();
    document.getElementById("risk-help-told").hidden = false;
  }
  show("screen-result");
});

async function list() {
  const [data, checks] = await Promise.all([api("GET", "/api/questionnaires"), api("GET", "/api/me/checks")]);
  const due = new Set(checks.checks.filter((c) => c.due).map((c) => c.kind));
  const items = data.questionnaires.map((q) => {
    const button = el("button", { type: "button", class: "tile", "data-kind": q.kind, "data-due": String(due.has(q.kind)) });
    button.append(el("span", { class: "tile-label", text: t(`programmes.${q.kind}`) }));
    if (due.has(q.kind)) button.append(el("span", { class: "tile-hint due", text: t("programmes.due") }));
    button.addEventListener("click", () => start(q));
    return el("li", {}, button);
  });
  document.getElementById("questionnaires").replaceChildren(...items);
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => {
    window.location.href = "/device";
  });
  account = await currentAccount();
  if (!account || account.role !== "prisoner") {
    show("screen-signin-first");
  } else {
    signedInAs(account);
    show("screen-list");
    await list();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
