// The device's Learning screen: courses, my courses, a lesson one part at a time, the test,
// the certificate and the learning plan, in large plain words.
//
// Where the learner is lives in the address (#course/<id>, #lesson/<id>, #test/<id>), and each
// part of a lesson they reach is saved at once, so a reload or a restart opens the lesson again
// at the same part.
//
// Offline first: progress and test answers go into the device's sealed queue (offline_queue.js,
// kinds `lesson` and `assessment`) and are sent from there, at once when the link is up, by
// themselves when it comes back. Progress only moves forward on the server, so sending it again
// or from two devices changes nothing. A lesson once opened comes from the service worker's cache
// with its pictures, sound and PDFs (fetched into the cache when it opens); the page shows what
// waits to be sent.

import {
  ApiError,
  api,
  clearError,
  currentAccount,
  download,
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
import { CACHE, OfflineQueue, forgetSession, keepCopy, rememberWho, rememberedWho } from "./offline_queue.js";
import { showWaiting, tellOutcome } from "./offline_status.js";

const state = { view: null, part: 0, course: null, questions: [] };

function laterOutcome(outcome) {
  if (outcome.status === "stored" && outcome.course && typeof outcome.score === "number") {
    flash(t("learning.test_marked_later", { score: outcome.score }));
  } else tellOutcome(outcome, (o) => refusal(new ApiError(409, o.code, o)));
}

const queue = new OfflineQueue({
  onChange: showWaiting(document.getElementById("sync-status"), "offline.lockdown_learning"),
  onOutcome: laterOutcome,
});

/** A refusal in words: the campus's own reasons first, then the common codes. */
function refusal(failure) {
  if (failure instanceof ApiError) {
    const reason = failure.body.reason;
    const key = `learning.error_${reason}`;
    if (reason && t(key) !== key) {
      return t(key, { course: failure.body.requires_title || "" });
    }
    if (failure.code === "lockdown") return t("learning.lockdown");
    if (failure.code === "not_found") return t("learning.error_not_found");
  }
  return errorText(failure);
}

function go(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function lessonsWord(e) {
  return t("learning.lessons_done", { done: e.lessons_done, total: e.lessons_total });
}

async function getCertificate(courseId) {
  try {
    await download(`/api/campus/courses/${encodeURIComponent(courseId)}/certificate`, "certificate.pdf");
  } catch (failure) {
    flash(refusal(failure));
  }
}

// ------------------------------------------------------------------ courses

async function showCourses() {
  show("screen-courses");
  const [entries, record] = await Promise.all([api("GET", "/api/campus/courses"), api("GET", "/api/campus/record")]);
  const mine = record.courses;
  const list = document.getElementById("my-courses");
  list.replaceChildren(
    ...(mine.length
      ? mine.map((e) => {
          const done = e.status === "completed";
          return el(
            "li",
            { class: done ? "arrived" : "", "data-course": e.course_id },
            el("span", { class: "card-title", text: e.course_title }),
            el("p", { text: done ? t("learning.completed") : lessonsWord(e) }),
            el("a", {
              class: "button primary big",
              href: `#course/${e.course_id}`,
              text: done ? t("learning.see_course") : t("learning.continue"),
            }),
            done
              ? el("button", {
                  type: "button",
                  class: "button secondary big",
                  text: t("learning.certificate"),
                  onclick: () => getCertificate(e.course_id),
                })
              : null,
          );
        })
      : [el("li", { text: t("learning.none_yet") })]),
  );
  const open = entries.filter((c) => !c.enrolment);
  const catalogue = document.getElementById("catalogue");
  catalogue.replaceChildren(
    ...(open.length
      ? open.map((c) => {
          const error = el("p", { class: "error", role: "alert", hidden: true });
          const button = el("button", {
            type: "button",
            class: "button primary big",
            text: t("learning.join"),
            "aria-label": t("learning.join_named", { course: c.title }),
          });
          button.addEventListener("click", async () => {
            button.disabled = true;
            try {
              await api("POST", `/api/campus/courses/${encodeURIComponent(c.id)}/enrol`);
              go(`#course/${c.id}`);
            } catch (failure) {
              showError(error, refusal(failure));
            } finally {
              button.disabled = false;
            }
          });
          return el(
            "li",
            { "data-course": c.id },
            el("span", { class: "card-title", text: c.title }),
            c.summary ? el("p", { text: c.summary }) : null,
            el("p", { text: t("learning.lesson_count", { n: c.lessons }) }),
            c.requires && !c.ready ? el("p", { class: "hint", text: t("learning.needs", { course: c.requires.title }) }) : null,
            button,
            error,
          );
        })
      : [el("li", { text: t("learning.no_more") })]),
  );
  renderGoals(record.goals);
}

function renderGoals(goals) {
  const list = document.getElementById("goals");
  list.replaceChildren(
    ...(goals.length
      ? goals.map((g) =>
          el(
            "li",
            { class: g.done ? "arrived" : "" },
            el("span", { class: "card-title", text: g.goal || "" }),
            el("p", { text: `${t("learning.goal_by", { date: g.target_date })}${g.done ? ` – ${t("learning.goal_done")}` : ""}` }),
            g.done
              ? null
              : el("button", {
                  type: "button",
                  class: "button secondary",
                  text: t("learning.goal_mark_done"),
                  onclick: async () => {
                    await api("PUT", `/api/campus/goals/${encodeURIComponent(g.id)}`, { done: true });
                    await showCourses();
                  },
                }),
          ),
        )
      : [el("li", { text: t("learning.no_goals") })]),
  );
}

document.getElementById("goal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("goal-error");
  clearError(error);
  const goal = document.getElementById("goal-text").value.trim();
  const date = document.getElementById("goal-date").value;
  if (!goal || !date) {
    showError(error, t("learning.goal_missing"));
    return;
  }
  try {
    await api("POST", "/api/campus/goals", { goal, target_date: date });
  } catch (failure) {
    showError(error, refusal(failure));
    return;
  }
  document.getElementById("goal-text").value = "";
  document.getElementById("goal-date").value = "";
  await showCourses();
});

document.getElementById("record-pdf").addEventListener("click", async () => {
  try {
    await download("/api/campus/record.pdf", "learning-record.pdf");
  } catch (failure) {
    flash(refusal(failure));
  }
});

// ------------------------------------------------------------------- course

async function showCourse(courseId) {
  const course = await api("GET", `/api/campus/courses/${encodeURIComponent(courseId)}`);
  state.course = course;
  document.getElementById("course-heading").textContent = course.title;
  document.getElementById("course-summary").textContent = course.summary;
  const e = course.enrolment;
  document.getElementById("course-progress").textContent = !e
    ? t("learning.not_joined")
    : e.status === "completed"
      ? t("learning.completed")
      : lessonsWord(e);
  clearError(document.getElementById("course-error"));
  document.getElementById("lessons").replaceChildren(
    ...course.lessons.map((lesson) => {
      const status = lesson.progress.completed
        ? t("learning.lesson_status_done")
        : lesson.progress.step > 0
          ? t("learning.lesson_status_started")
          : t("learning.lesson_status_new");
      return el(
        "li",
        { class: lesson.progress.completed ? "arrived" : "" },
        el("span", { class: "card-title", text: lesson.title }),
        el("p", { text: status }),
        e
          ? el("a", {
              class: "button primary big",
              href: `#lesson/${lesson.id}`,
              text: lesson.progress.completed ? t("learning.read_again") : t("learning.open"),
              "aria-label": t("learning.open_named", { lesson: lesson.title }),
            })
          : null,
      );
    }),
  );
  document.getElementById("take-test").hidden = !(e && e.ready_for_assessment);
  document.getElementById("course-certificate").hidden = !(e && e.status === "completed");
  show("screen-course");
}

document.getElementById("take-test").addEventListener("click", () => go(`#test/${state.course.id}`));
document.getElementById("course-certificate").addEventListener("click", () => getCertificate(state.course.id));

// ------------------------------------------------------------------- lesson

function partsOf(view) {
  return 1 + view.lesson.files.length;
}

function renderPart() {
  const view = state.view;
  const total = partsOf(view);
  const body = document.getElementById("lesson-body");
  document.getElementById("lesson-heading").textContent = view.lesson.title;
  document.getElementById("lesson-part").textContent = t("learning.part", { n: state.part + 1, total });
  clearError(document.getElementById("lesson-error"));
  if (state.part === 0) {
    // Sanitised by the server when staff saved it (campus/screening.py): no script, no outside links.
    body.innerHTML = view.lesson.body_html;
  } else {
    const file = view.lesson.files[state.part - 1];
    if (file.kind === "image") {
      body.replaceChildren(el("img", { src: file.url, alt: t("learning.picture", { n: state.part }), class: "lesson-image" }));
    } else if (file.kind === "audio") {
      body.replaceChildren(
        el("p", { text: t("learning.listen") }),
        el("audio", { src: file.url, controls: true, preload: "none", "aria-label": t("learning.listen") }),
      );
    } else {
      const button = el("button", { type: "button", class: "button secondary big", text: t("learning.open_pdf") });
      button.addEventListener("click", () => download(file.url, `${file.name}.pdf`).catch((f) => flash(refusal(f))));
      body.replaceChildren(el("p", { text: t("learning.pdf_help") }), button);
    }
  }
  const last = state.part + 1 >= total;
  document.getElementById("lesson-next").hidden = last;
  document.getElementById("lesson-done").hidden = !last;
  show("screen-lesson");
}

/** Queued, then sent if the link allows; the lesson goes on either way. */
async function saveProgress(completed = false) {
  const step = Math.max(state.part, state.view.progress.step);
  const done = { lesson_id: state.view.lesson.id, step, completed: completed || state.view.progress.completed };
  state.view.progress = done;
  const sent = await queue.submit("lesson", null, done);
  if (sent.outcome && sent.outcome.status === "refused") {
    throw new ApiError(404, sent.outcome.code, sent.outcome);
  }
  return sent;
}

async function keepLesson(view) {
  // Opened once, a lesson (without where the learner got to) and its approved files are kept
  // for the next time the link is down.
  if (!("caches" in window)) return;
  await keepCopy(`/api/campus/lessons/${encodeURIComponent(view.lesson.id)}`, {
    ...view,
    progress: { lesson_id: view.lesson.id, step: 0, completed: false },
  });
  try {
    const cache = await caches.open(CACHE);
    await Promise.all(view.lesson.files.map((f) => cache.add(f.url)));
  } catch {
    // Without them the lesson's words still show offline.
  }
}

async function showLesson(lessonId) {
  const view = await api("GET", `/api/campus/lessons/${encodeURIComponent(lessonId)}`);
  state.view = view;
  state.part = view.progress.completed ? 0 : Math.min(view.progress.step, partsOf(view) - 1);
  renderPart();
  await keepLesson(view);
}

document.getElementById("lesson-next").addEventListener("click", async () => {
  const button = document.getElementById("lesson-next");
  button.disabled = true;
  state.part += 1;
  try {
    await saveProgress();
    renderPart();
  } catch (failure) {
    state.part -= 1;
    showError(document.getElementById("lesson-error"), refusal(failure));
  } finally {
    button.disabled = false;
  }
});

document.getElementById("lesson-back").addEventListener("click", () => {
  if (state.part === 0) {
    go(`#course/${state.view.course.id}`);
    return;
  }
  state.part -= 1;
  renderPart();
});

document.getElementById("lesson-done").addEventListener("click", async () => {
  const button = document.getElementById("lesson-done");
  button.disabled = true;
  let sent;
  try {
    sent = await saveProgress(true);
  } catch (failure) {
    showError(document.getElementById("lesson-error"), refusal(failure));
    return;
  } finally {
    button.disabled = false;
  }
  if (!sent.outcome) {
    // Not sent yet: say so here, where the learner is, rather than open a course list that
    // cannot be fresh without the link.
    show("screen-lesson-saved");
    return;
  }
  flash(t("learning.lesson_saved"));
  go(`#course/${state.view.course.id}`);
});

// --------------------------------------------------------------------- test

async function showTest(courseId) {
  const [course, questions] = await Promise.all([
    api("GET", `/api/campus/courses/${encodeURIComponent(courseId)}`),
    api("GET", `/api/campus/courses/${encodeURIComponent(courseId)}/assessment`),
  ]);
  state.course = course;
  state.questions = questions;
  document.getElementById("test-heading").textContent = t("learning.test_of", { course: course.title });
  clearError(document.getElementById("test-error"));
  document.getElementById("test-questions").replaceChildren(
    ...questions.map((q, n) =>
      el(
        "fieldset",
        { class: "choices", "data-question": String(n) },
        el("legend", { class: "question", text: t("learning.question", { n: n + 1, text: q.text }) }),
        el(
          "div",
          { class: "choice-list" },
          ...q.choices.map((choice, c) =>
            el(
              "div",
              { class: "choice" },
              el("input", { type: "radio", name: `q${n}`, id: `q${n}-${c}`, value: String(c) }),
              el("label", { for: `q${n}-${c}`, text: choice }),
            ),
          ),
        ),
      ),
    ),
  );
  show("screen-test");
}

document.getElementById("test-back").addEventListener("click", () => go(`#course/${state.course.id}`));
document.getElementById("test-form").addEventListener("change", () => clearError(document.getElementById("test-error")));

document.getElementById("test-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("test-error");
  clearError(error);
  const answers = state.questions.map((_, n) => {
    const chosen = document.querySelector(`input[name="q${n}"]:checked`);
    return chosen ? Number(chosen.value) : null;
  });
  const missing = answers.indexOf(null);
  if (missing >= 0) {
    showError(error, t("learning.answer_all", { n: missing + 1 }));
    return;
  }
  const button = document.getElementById("test-send");
  button.disabled = true;
  let result;
  try {
    const sent = await queue.submit("assessment", null, { course_id: state.course.id, answers });
    if (!sent.outcome) {
      document.getElementById("result-heading").textContent = t("offline.saved_heading");
      document.getElementById("result-score").textContent = t("learning.test_saved");
      document.getElementById("result-marks").replaceChildren();
      document.getElementById("result-certificate").hidden = true;
      document.getElementById("result-again").hidden = true;
      show("screen-result");
      return;
    }
    if (sent.outcome.status === "refused" || sent.outcome.status === "conflict") {
      showError(error, refusal(new ApiError(409, sent.outcome.code, sent.outcome)));
      return;
    }
    result = sent.outcome;
  } catch (failure) {
    showError(error, refusal(failure));
    return;
  } finally {
    button.disabled = false;
  }
  document.getElementById("result-heading").textContent = result.passed ? t("learning.passed") : t("learning.not_passed");
  document.getElementById("result-score").textContent = t("learning.score", {
    right: result.right,
    total: result.total,
    score: result.score,
    pass: result.pass_mark,
  });
  document.getElementById("result-marks").replaceChildren(
    ...result.marks.map((right, n) =>
      el("li", { text: t(right ? "learning.mark_right" : "learning.mark_wrong", { n: n + 1 }) }),
    ),
  );
  document.getElementById("result-certificate").hidden = !result.passed;
  document.getElementById("result-again").hidden = result.passed;
  show("screen-result");
});

document.getElementById("result-certificate").addEventListener("click", () => getCertificate(state.course.id));
document.getElementById("result-again").addEventListener("click", () => showTest(state.course.id));

// -------------------------------------------------------------------- route

async function route() {
  flash("");
  const [where, id] = window.location.hash.replace(/^#/, "").split("/");
  try {
    if (where === "course" && id) await showCourse(id);
    else if (where === "lesson" && id) await showLesson(id);
    else if (where === "test" && id) await showTest(id);
    else await showCourses();
  } catch (failure) {
    const words = refusal(failure);
    if (where && where !== "courses") {
      await showCourses().catch(() => {});
    }
    flash(words);
  }
  document.body.dataset.ready = "true";
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

async function startWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/device/sw.js", { scope: "/device/" });
  } catch {
    // Without the worker the page still works online; it just cannot open offline.
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
    document.body.dataset.ready = "true";
    return;
  }
  signedInAs(account);
  window.addEventListener("hashchange", () => {
    document.body.dataset.ready = "false";
    route();
  });
  await route();
  queue.sync().catch((failure) => flash(errorText(failure)));
  startWorker();
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
