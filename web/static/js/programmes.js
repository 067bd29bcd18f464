// The device's Programmes screen: a questionnaire one question at a time, in large plain words.
//
// A PHQ-9 question 9 answer above 0 shows where to get help now the moment it is chosen, from
// text already in this page (#risk-help): no server round trip, so it works with the link down.
// The server raises the alert for the duty healthcare team when the answers are sent. Each set
// of answers carries an id made here, so sending again after a lost reply stores nothing twice.
//
// Offline first: finished answers go into the device's sealed queue (offline_queue.js) and are
// sent from there, at once when the link is up, by themselves when it comes back, or the next
// time their owner signs in here. The page itself, its scripts and the questionnaires'
// definitions come from the service worker's cache (offline_sw.js) when the link is down.

import {
  ApiError,
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
import { CACHE, OfflineQueue, forgetSession, rememberWho, rememberedWho } from "./offline_queue.js";

const state = { questionnaire: null, steps: [], index: 0, answers: {}, substance: null, slot: null, due: {} };
// The id of the answers just finished, while the page waits to hear whether they were sent.
let sending = null;
const syncStatus = document.getElementById("sync-status");

function showSync({ waiting, state: link }) {
  syncStatus.dataset.waiting = String(waiting);
  syncStatus.dataset.state = link;
  const parts = [];
  if (waiting > 0) parts.push(el("strong", { text: t("offline.waiting", { n: waiting }) }));
  let why = null;
  if (link === "lockdown") why = t("offline.lockdown");
  else if (link === "offline" && waiting > 0) why = t("offline.no_link");
  else if (link === "refused") why = t("offline.not_yours");
  if (why) parts.push(el("span", { text: ` ${why}` }));
  syncStatus.replaceChildren(...parts);
  syncStatus.hidden = parts.length === 0;
}

function showOutcome(outcome) {
  if (sending && outcome.id === sending.id) {
    sending.resolve(outcome);
    return;
  }
  if (outcome.status === "stored") {
    document.getElementById("sync-note").textContent = t("offline.sent_later");
    document.getElementById("sync-note").hidden = false;
  } else if (outcome.status === "conflict") flash(t("offline.conflict"));
  else if (outcome.status === "refused") flash(t("offline.refused"));
}

const queue = new OfflineQueue({ onChange: showSync, onOutcome: showOutcome });

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
  // Answering a due check: two devices answering the same one is a conflict (first stands).
  state.slot = state.due[q.kind] ? `${q.kind}@${state.due[q.kind]}` : null;
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

function showScore(q, done) {
  document.getElementById("result-score").textContent = `${t("programmes.score", {
    score: done.score,
    max: maxScore(q),
  })} ${t(`programmes.band_${done.band}`)}`;
  if (done.risk) {
    showHelp();
    document.getElementById("risk-help-told").hidden = false;
  }
  show("screen-result");
}

document.getElementById("finish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = state.questionnaire;
  const finishError = document.getElementById("finish-error");
  const button = document.getElementById("finish-send");
  clearError(finishError);
  if (button.disabled) return;
  const body = { kind: q.kind, answers: state.answers };
  if (state.substance) body.substance = state.substance;
  const comment = document.getElementById("comment").value.trim();
  if (comment) body.comment = comment;
  button.disabled = true;
  button.textContent = t("programmes.sending");
  let outcome = null;
  try {
    const heard = new Promise((resolve) => {
      sending = { id: null, resolve };
    });
    sending.id = await queue.add("questionnaire", state.slot, body);
    const link = await queue.sync();
    outcome = link === "idle" ? await heard : null;
  } catch (failure) {
    showError(finishError, failure);
    return;
  } finally {
    sending = null;
    button.disabled = false;
    button.textContent = t("programmes.send");
  }
  document.getElementById("comment").value = "";
  if (outcome && (outcome.status === "stored" || outcome.status === "replayed")) {
    showScore(q, outcome);
    return;
  }
  if (outcome && outcome.status === "conflict") flash(t("offline.conflict"));
  if (outcome && outcome.status === "refused") {
    showError(finishError, outcome.detail || t("offline.refused"));
    return;
  }
  show("screen-saved");
});

async function checksOrNone() {
  try {
    return await api("GET", "/api/me/checks");
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 0) return { checks: [] };
    throw failure;
  }
}

async function list() {
  const [data, checks] = await Promise.all([api("GET", "/api/questionnaires"), checksOrNone()]);
  state.due = Object.fromEntries(checks.checks.filter((c) => c.due).map((c) => [c.kind, c.next_due_at]));
  const due = new Set(Object.keys(state.due));
  const items = data.questionnaires.map((q) => {
    const button = el("button", { type: "button", class: "tile", "data-kind": q.kind, "data-due": String(due.has(q.kind)) });
    button.append(el("span", { class: "tile-label", text: t(`programmes.${q.kind}`) }));
    if (due.has(q.kind)) button.append(el("span", { class: "tile-hint due", text: t("programmes.due") }));
    button.addEventListener("click", () => start(q));
    return el("li", {}, button);
  });
  document.getElementById("questionnaires").replaceChildren(...items);
}

async function startWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/device/sw.js", { scope: "/device/" });
    // The definitions this page just read, for the next time the link is down.
    const cache = await caches.open(CACHE);
    await cache.add("/api/questionnaires");
  } catch {
    // Without the worker the page still works online; it just cannot open offline.
  }
}

async function whoIsHere() {
  try {
    const account = await currentAccount();
    if (account) rememberWho(account);
    else forgetSession();
    return account;
  } catch (failure) {
    // No link: the person this tab was showing, as long as they did not sign out.
    if (failure instanceof ApiError && failure.status === 0) return rememberedWho();
    throw failure;
  }
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => {
    queue.lock();
    window.location.href = "/device";
  });
  account = await whoIsHere();
  if (!account || account.role !== "prisoner") {
    show("screen-signin-first");
  } else {
    signedInAs(account);
    show("screen-list");
    await list();
    // The queue and the worker go on in the background: the screen is usable already.
    queue.sync().catch((failure) => flash(errorText(failure)));
    startWorker();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
