// The keyworker's (and clinical staff's) programmes desk: the people they follow with each
// programme's progress and their latest questionnaire scores, a link to the scores' trend
// charts, putting someone on a programme, and, only when asked (each reading is logged),
// their answers. Answers are shown as text, never as markup.

import {
  LOCALE,
  api,
  clearError,
  el,
  errorText,
  flash,
  formatDate,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const TITLES = { phq9: "PHQ-9", gad7: "GAD-7", audit: "AUDIT", sds: "SDS" };
const PLAN_PARTS = ["triggers", "avoid", "cope"];
const error = document.getElementById("caseload-error");
let current = null;

function words(w) {
  if (LOCALE === "cy" && w.cy) return { text: w.cy, lang: null };
  return { text: w.en, lang: LOCALE === "en" ? null : "en" };
}

function say(tag, w, attrs = {}) {
  const { text, lang } = words(w);
  return el(tag, { ...attrs, text, lang });
}

function progressLine(p) {
  return el(
    "li",
    { "data-programme": p.programme.id },
    say("span", p.programme.title),
    `: ${p.completed_at ? t("work.finished") : t("work.progress", { done: p.completed_sessions, total: p.programme.sessions })}`,
  );
}

function scoreLine(s) {
  return el("li", {
    text: t("caseload.score", {
      kind: TITLES[s.kind] || s.kind,
      score: s.score,
      band: t(`scores.band_${s.band}`),
      date: formatDate(s.submitted_at),
    }),
  });
}

function row(person) {
  const name = [person.display_name, person.prison_number].filter(Boolean).join(", ");
  const open = el("button", { type: "button", class: "button secondary", text: t("caseload.open") });
  open.addEventListener("click", () => openPerson(person));
  return el(
    "tr",
    { "data-person": person.prisoner_id },
    el("th", { scope: "row", text: name }),
    el(
      "td",
      {},
      person.programmes.length
        ? el("ul", { class: "plain-list" }, ...person.programmes.map(progressLine))
        : t("caseload.no_programmes"),
    ),
    el(
      "td",
      {},
      person.latest_scores.length
        ? el("ul", { class: "plain-list" }, ...person.latest_scores.map(scoreLine))
        : t("scores.none"),
    ),
    el(
      "td",
      {},
      el("a", { href: `/scores#${encodeURIComponent(person.prisoner_id)}`, text: t("caseload.trend") }),
      " ",
      open,
    ),
  );
}

function answerText(ex, value) {
  if (value === undefined) return el("p", { class: "hint", text: t("caseload.not_answered") });
  if (ex.kind === "choice") {
    const option = ex.options.find((o) => o.value === value);
    return say("p", option ? option.label : { en: value });
  }
  if (ex.kind === "plan") {
    return el(
      "dl",
      { class: "plan-answer" },
      ...PLAN_PARTS.flatMap((part) => [
        el("dt", { text: t(`work.plan_${part}`) }),
        el("dd", { text: (value[part] || []).join("; ") || "–" }),
      ]),
    );
  }
  return el("p", { class: "answer-text", text: value });
}

async function showAnswers(person, progress, box) {
  let view;
  try {
    view = await api(
      "GET",
      `/api/prisoners/${encodeURIComponent(person.prisoner_id)}/programmes/${encodeURIComponent(progress.programme.id)}/answers`,
    );
  } catch (failure) {
    showError(error, failure);
    return;
  }
  box.replaceChildren(
    ...view.session_list.map((s) =>
      el(
        "section",
        { class: "session-answers", "data-session": String(s.position) },
        el("h4", {}, `${t("work.session_n", { n: s.position })}: `, say("span", s.title), ` (${t(`work.state_${s.state}`)})`),
        ...s.exercises.flatMap((ex) => [say("p", ex.prompt, { class: "hint" }), answerText(ex, s.answers[ex.key])]),
      ),
    ),
  );
}

function openPerson(person) {
  current = person;
  const panel = document.getElementById("person");
  panel.hidden = false;
  const heading = document.getElementById("person-heading");
  heading.textContent = [person.display_name, person.prison_number].filter(Boolean).join(", ");
  const answers = document.getElementById("answers");
  answers.replaceChildren(
    ...person.programmes.map((p) => {
      const box = el("div", { class: "answers" });
      const button = el("button", { type: "button", class: "button secondary", text: t("caseload.show_answers") });
      button.addEventListener("click", () => showAnswers(person, p, box));
      return el(
        "section",
        { "data-programme": p.programme.id },
        say("h3", p.programme.title),
        el("p", { class: "hint", text: t("caseload.logged") }),
        button,
        box,
      );
    }),
  );
  heading.focus();
}

async function load() {
  const [people, catalogue] = await Promise.all([api("GET", "/api/programmes/caseload"), api("GET", "/api/programmes")]);
  const rows = people.people.map(row);
  document
    .getElementById("people-rows")
    .replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "4", text: t("caseload.nobody") }))]));
  document.getElementById("enrol-programme").replaceChildren(
    ...catalogue.programmes.map((p) => {
      const { text } = words(p.title);
      return el("option", { value: p.id, text });
    }),
  );
  if (current) {
    const again = people.people.find((p) => p.prisoner_id === current.prisoner_id);
    if (again) openPerson(again);
  }
}

document.getElementById("enrol-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const enrolError = document.getElementById("enrol-error");
  clearError(enrolError);
  if (!current) return;
  try {
    await api("POST", `/api/prisoners/${encodeURIComponent(current.prisoner_id)}/programmes`, {
      programme_id: document.getElementById("enrol-programme").value,
    });
  } catch (failure) {
    showError(enrolError, failure);
    return;
  }
  document.getElementById("caseload-result").textContent = t("caseload.enrolled");
  await load();
});

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["keyworker", "clinician", "manager"]);
  if (account) {
    show("screen-caseload");
    await load();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
