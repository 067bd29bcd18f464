// Education staff: the files waiting for a second person's approval, the courses with their
// lessons and uploads, the assessment, and each learner's progress on the chosen course.
// The server screens every upload and sanitises every lesson; this page says what it refused
// or took out, in words.

import {
  ApiError,
  api,
  clearError,
  download,
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
  upload,
} from "./common.js";

const ROLES = ["department_staff"];
const result = document.getElementById("scampus-result");
const select = document.getElementById("course-select");
const state = { courses: [], course: null };

function refusal(failure) {
  if (failure instanceof ApiError && failure.body.reason) {
    const key = `scampus.error_${failure.body.reason}`;
    if (t(key) !== key) return t(key);
  }
  return errorText(failure);
}

function status(words) {
  result.textContent = words;
}

function fileLine(f, { decide = false } = {}) {
  const preview =
    f.kind === "image"
      ? el("img", { src: f.url, alt: t("scampus.preview_of", { name: f.name }), class: "thumb", width: "160" })
      : f.kind === "audio"
        ? el("audio", { src: f.url, controls: true, preload: "none", "aria-label": t("scampus.preview_of", { name: f.name }) })
        : el("button", {
            type: "button",
            class: "button secondary",
            text: t("scampus.open_file", { name: f.name }),
            onclick: () => download(f.url, `${f.name}.pdf`).catch((x) => flash(refusal(x))),
          });
  const parts = [
    el("p", { class: "card-title", text: `${t(`scampus.kind_${f.kind}`)}: ${f.name}` }),
    el("p", { class: "hint", text: t(`scampus.status_${f.status}`) }),
    preview,
  ];
  if (decide) {
    const problem = el("p", { class: "error", role: "alert", hidden: true });
    for (const approve of [true, false]) {
      parts.push(
        el("button", {
          type: "button",
          class: approve ? "button primary" : "button secondary",
          text: t(approve ? "scampus.approve" : "scampus.refuse"),
          "aria-label": t(approve ? "scampus.approve_named" : "scampus.refuse_named", { name: f.name }),
          onclick: async () => {
            clearError(problem);
            try {
              await api("POST", `/api/campus/staff/files/${encodeURIComponent(f.id)}/decision`, { approve });
            } catch (failure) {
              showError(problem, refusal(failure));
              return;
            }
            status(t(approve ? "scampus.approved" : "scampus.refused", { name: f.name }));
            await Promise.all([loadPending(), loadCourse()]);
          },
        }),
      );
    }
    parts.push(problem);
  }
  return el("li", { class: "card", "data-file": f.id, "data-status": f.status }, ...parts);
}

async function loadPending() {
  const list = document.getElementById("pending");
  const found = await api("GET", "/api/campus/staff/pending");
  list.replaceChildren(
    ...(found.length
      ? found.map((p) => {
          const line = fileLine(p.file, { decide: true });
          line.prepend(el("p", { text: t("scampus.pending_where", { course: p.course.title, lesson: p.lesson.title }) }));
          return line;
        })
      : [el("li", { text: t("scampus.pending_none") })]),
  );
}

async function loadCourses(chosen) {
  state.courses = await api("GET", "/api/campus/staff/courses");
  select.replaceChildren(...state.courses.map((c) => el("option", { value: c.id, text: c.shared ? `${c.title} (${t("scampus.shared")})` : c.title })));
  document.getElementById("course-requires").replaceChildren(
    el("option", { value: "", text: t("scampus.requires_none") }),
    ...state.courses.map((c) => el("option", { value: c.id, text: c.title })),
  );
  if (chosen) select.value = chosen;
  await loadCourse();
}

function uploadForm(lesson) {
  const id = `upload-${lesson.id}`;
  const input = el("input", { type: "file", id, name: "file", accept: "image/png,image/jpeg,image/webp,audio/mpeg,audio/ogg,audio/wav,application/pdf" });
  const problem = el("p", { class: "error", role: "alert", hidden: true });
  const form = el(
    "form",
    { class: "form inline", novalidate: true, "aria-label": t("scampus.upload_to", { lesson: lesson.title }) },
    el("div", { class: "field" }, el("label", { for: id, text: t("scampus.upload_label") }), input),
    el("button", { type: "submit", class: "button secondary", text: t("scampus.upload_button") }),
    problem,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(problem);
    const file = input.files[0];
    if (!file) {
      showError(problem, t("scampus.upload_choose"));
      return;
    }
    const name = file.name.replace(/\.[^.]*$/, "");
    try {
      await upload("POST", `/api/campus/staff/lessons/${encodeURIComponent(lesson.id)}/files?name=${encodeURIComponent(name)}`, file);
    } catch (failure) {
      showError(problem, refusal(failure));
      return;
    }
    status(t("scampus.uploaded", { name }));
    await Promise.all([loadCourse(), loadPending()]);
  });
  return form;
}

async function loadCourse() {
  const id = select.value;
  const lessons = document.getElementById("staff-lessons");
  if (!id) {
    lessons.replaceChildren();
    return;
  }
  const course = await api("GET", `/api/campus/staff/courses/${encodeURIComponent(id)}`);
  state.course = course;
  document.getElementById("course-shared").hidden = !course.shared;
  for (const form of ["lesson-form", "questions-form"]) document.getElementById(form).hidden = course.shared;
  lessons.replaceChildren(
    ...(course.lesson_list.length
      ? course.lesson_list.map((lesson) =>
          el(
            "li",
            { class: "card", "data-lesson": lesson.id },
            el("p", { class: "card-title", text: `${lesson.position}. ${lesson.title}` }),
            el("ul", { class: "cards" }, ...lesson.files.map((f) => fileLine(f))),
            course.shared ? null : uploadForm(lesson),
          ),
        )
      : [el("li", { text: t("scampus.no_lessons") })]),
  );
  await loadProgress();
}

async function loadProgress() {
  const rows = document.getElementById("progress-rows");
  const found = await api("GET", `/api/campus/staff/courses/${encodeURIComponent(select.value)}/progress`);
  rows.replaceChildren(
    ...found.map((p) => {
      const e = p.enrolment;
      const record = el("button", {
        type: "button",
        class: "button secondary",
        text: t("scampus.record_pdf"),
        "aria-label": t("scampus.record_of", { name: p.learner.name }),
        onclick: () =>
          download(`/api/campus/staff/learners/${encodeURIComponent(p.learner.id)}/record.pdf`, "learning-record.pdf").catch((x) =>
            flash(refusal(x)),
          ),
      });
      return el(
        "tr",
        { "data-learner": p.learner.prison_number || "" },
        el("td", { text: `${p.learner.name} (${p.learner.prison_number || ""})` }),
        el("td", { text: t("scampus.lessons_of", { done: e.lessons_done, total: e.lessons_total }) }),
        el("td", { text: e.best_score === null ? "–" : `${e.best_score}%` }),
        el("td", { text: t(`scampus.enrolment_${e.status}`) }),
        el("td", {}, record),
      );
    }),
  );
  if (!found.length) rows.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: t("scampus.no_learners") })));
  document.getElementById("plan-form").hidden = !found.length;
  document.getElementById("plan-learner").replaceChildren(
    ...found.map((p) => el("option", { value: p.learner.id, text: `${p.learner.name} (${p.learner.prison_number || ""})` })),
  );
}

document.getElementById("course-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const problem = document.getElementById("course-error");
  clearError(problem);
  let made;
  try {
    made = await api("POST", "/api/campus/staff/courses", {
      title: form.title.value,
      summary: form.summary.value,
      requires_course_id: form.requires.value || null,
      pass_mark: Number(form.pass_mark.value),
    });
  } catch (failure) {
    showError(problem, refusal(failure));
    return;
  }
  form.reset();
  status(t("scampus.course_added", { title: made.title }));
  await loadCourses(made.id);
});

document.getElementById("lesson-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const problem = document.getElementById("lesson-error");
  clearError(problem);
  let made;
  try {
    made = await api("POST", `/api/campus/staff/courses/${encodeURIComponent(select.value)}/lessons`, {
      title: form.title.value,
      body_html: form.body_html.value,
    });
  } catch (failure) {
    showError(problem, refusal(failure));
    return;
  }
  form.reset();
  const cleaned = made.removed.map((r) => t(`scampus.removed_${r}`)).join(" ");
  status(`${t("scampus.lesson_added", { title: made.title })} ${cleaned}`.trim());
  await loadCourse();
});

/** One question a line: the question, then its choices, all split by |; a * marks the right one. */
function parseQuestions(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [question, ...choices] = line.split("|").map((part) => part.trim());
      const answer = choices.findIndex((c) => c.startsWith("*"));
      return { text: question, choices: choices.map((c) => c.replace(/^\*\s*/, "")), answer };
    });
}

document.getElementById("questions-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = document.getElementById("questions-error");
  clearError(problem);
  const questions = parseQuestions(document.getElementById("questions-text").value);
  if (!questions.length || questions.some((q) => q.answer < 0 || q.choices.length < 2)) {
    showError(problem, t("scampus.questions_bad"));
    return;
  }
  try {
    await api("PUT", `/api/campus/staff/courses/${encodeURIComponent(select.value)}/questions`, { questions });
  } catch (failure) {
    showError(problem, refusal(failure));
    return;
  }
  status(t("scampus.questions_saved", { n: questions.length }));
  await loadCourses(select.value);
});

document.getElementById("enrol-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = document.getElementById("enrol-error");
  clearError(problem);
  const number = document.getElementById("enrol-number").value.trim();
  try {
    await api("POST", `/api/campus/staff/courses/${encodeURIComponent(select.value)}/enrolments`, { prison_number: number });
  } catch (failure) {
    showError(problem, refusal(failure));
    return;
  }
  document.getElementById("enrol-number").value = "";
  status(t("scampus.enrolled", { number }));
  await loadProgress();
});

document.getElementById("plan-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const problem = document.getElementById("plan-error");
  clearError(problem);
  if (!form.goal.value.trim() || !form.target_date.value) {
    showError(problem, t("learning.goal_missing"));
    return;
  }
  try {
    await api("POST", `/api/campus/staff/learners/${encodeURIComponent(form.learner.value)}/goals`, {
      goal: form.goal.value.trim(),
      target_date: form.target_date.value,
    });
  } catch (failure) {
    showError(problem, refusal(failure));
    return;
  }
  form.goal.value = "";
  form.target_date.value = "";
  status(t("scampus.goal_set"));
});

select.addEventListener("change", () => loadCourse().catch((failure) => flash(refusal(failure))));

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(ROLES);
  if (account) {
    show("screen-campus");
    try {
      await Promise.all([loadPending(), loadCourses()]);
    } catch (failure) {
      showError(document.getElementById("scampus-error"), refusal(failure));
    }
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
