// The device's programmes: the person's programmes and those they may join; a programme's
// sessions in order (done, open, locked); a session's exercises, each saved on its own with an
// id made here, so a lost reply sent again stores nothing twice and a reload shows every saved
// answer. Where the person is lives in the address's fragment (#p=<programme>&s=<session>), so
// a reload or coming back later returns to the same screen. Answers are shown as text only.

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

const status = document.getElementById("status");
const PLAN_PARTS = ["triggers", "avoid", "cope"];

// Words in the page's language where the programme has them; otherwise English, marked so.
function words(w) {
  if (LOCALE === "cy" && w.cy) return { text: w.cy, lang: null };
  return { text: w.en, lang: LOCALE === "en" ? null : "en" };
}

function say(tag, w, attrs = {}) {
  const { text, lang } = words(w);
  return el(tag, { ...attrs, text, lang });
}

// The server's refusals carry a stable reason; the words for it are the page's own.
function refusal(failure) {
  const reason = failure && failure.body && failure.body.reason;
  const key = `work.refused_${reason}`;
  return reason && t(key) !== key ? t(key) : errorText(failure);
}

function place() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  return { programme: params.get("p"), session: params.get("s") };
}

function progressText(p) {
  return t("work.progress", { done: p.completed_sessions, total: p.programme.sessions });
}

async function overview() {
  const data = await api("GET", "/api/me/programmes");
  const mine = data.enrolled.map((p) =>
    el(
      "li",
      { "data-programme": p.programme.id },
      say("p", p.programme.title, { class: "card-title" }),
      el("p", { text: p.completed_at ? t("work.finished") : progressText(p) }),
      el("a", { class: "button primary", href: `#p=${encodeURIComponent(p.programme.id)}`, text: t("work.open_one") }),
    ),
  );
  document.getElementById("mine").replaceChildren(...(mine.length ? mine : [el("li", { text: t("work.none") })]));
  const available = data.available.map((p) => {
    const button = el("button", { type: "button", class: "button primary", text: t("work.join") });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("POST", `/api/me/programmes/${encodeURIComponent(p.id)}/enrol`);
      } catch (failure) {
        showError(document.getElementById("overview-error"), failure);
        button.disabled = false;
        return;
      }
      window.location.hash = `p=${encodeURIComponent(p.id)}`;
    });
    return el(
      "li",
      { "data-available": p.id },
      say("p", p.title, { class: "card-title" }),
      say("p", p.summary),
      button,
    );
  });
  document
    .getElementById("available")
    .replaceChildren(...(available.length ? available : [el("li", { text: t("work.none_to_join") })]));
  show("screen-overview");
}

async function programme(id) {
  const view = await api("GET", `/api/me/programmes/${encodeURIComponent(id)}`);
  const heading = document.getElementById("programme-heading");
  const title = words(view.programme.title);
  heading.textContent = title.text;
  if (title.lang) heading.setAttribute("lang", title.lang);
  else heading.removeAttribute("lang");
  const summary = document.getElementById("programme-summary");
  const sum = words(view.programme.summary);
  summary.textContent = sum.text;
  if (sum.lang) summary.setAttribute("lang", sum.lang);
  document.getElementById("programme-progress").textContent = view.completed_at
    ? t("work.finished")
    : progressText(view);
  const items = view.session_list.map((s) => {
    const label = t(`work.state_${s.state}`);
    const children = [
      el("p", { class: "card-title" }, `${t("work.session_n", { n: s.position })}: `, say("span", s.title)),
      el("p", { text: label }),
    ];
    if (s.state !== "locked") {
      children.push(
        el("a", {
          class: "button primary",
          href: `#p=${encodeURIComponent(id)}&s=${encodeURIComponent(s.id)}`,
          text: s.state === "done" ? t("work.look_again") : t("work.start"),
        }),
      );
    }
    return el("li", { "data-state": s.state, "data-position": String(s.position) }, ...children);
  });
  document.getElementById("sessions").replaceChildren(...items);
  show("screen-programme");
  return view;
}

function saveButton(onSave) {
  const button = el("button", { type: "button", class: "button secondary", text: t("work.save") });
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    try {
      await onSave();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function exercise(session, ex, saved) {
  const id = `ex-${ex.key}`;
  const note = el("p", { id: `${id}-saved`, class: "hint", role: "status", "aria-live": "polite" });
  const error = el("p", { id: `${id}-error`, class: "error", role: "alert", hidden: true });
  const box = el("section", { class: "panel exercise", "data-exercise": ex.key, "data-saved": String(saved !== undefined) });
  let read;
  if (ex.kind === "text") {
    const area = el("textarea", { id, rows: "4", maxlength: "4000" });
    area.value = saved ?? "";
    box.append(el("div", { class: "field" }, el("label", { for: id }, say("span", ex.prompt)), area));
    read = () => area.value;
  } else if (ex.kind === "choice") {
    const list = el("div", { class: "choice-list" });
    for (const option of ex.options) {
      const optionId = `${id}-${option.value}`;
      const input = el("input", { type: "radio", name: id, id: optionId, value: option.value });
      input.checked = saved === option.value;
      list.append(el("div", { class: "choice" }, input, el("label", { for: optionId }, say("span", option.label))));
    }
    box.append(el("fieldset", { class: "choices" }, el("legend", { class: "question" }, say("span", ex.prompt)), list));
    read = () => box.querySelector(`input[name="${id}"]:checked`)?.value ?? null;
  } else {
    const fields = PLAN_PARTS.map((part) => {
      const partId = `${id}-${part}`;
      const area = el("textarea", { id: partId, rows: "3", "aria-describedby": `${id}-lines` });
      area.value = ((saved && saved[part]) || []).join("\n");
      return el("div", { class: "field" }, el("label", { for: partId, text: t(`work.plan_${part}`) }), area);
    });
    box.append(
      el(
        "fieldset",
        { class: "plan" },
        el("legend", { class: "question" }, say("span", ex.prompt)),
        el("p", { id: `${id}-lines`, class: "hint", text: t("work.plan_lines") }),
        ...fields,
      ),
    );
    read = () => {
      const plan = {};
      for (const part of PLAN_PARTS) {
        plan[part] = document
          .getElementById(`${id}-${part}`)
          .value.split("\n")
          .map((line) => line.trim())
          .filter(Boolean);
      }
      return plan;
    };
  }
  box.append(
    saveButton(async () => {
      clearError(error);
      note.textContent = t("work.saving");
      try {
        await api("PUT", `/api/me/programme-sessions/${encodeURIComponent(session.id)}/answers/${encodeURIComponent(ex.key)}`, {
          value: read(),
          client_id: crypto.randomUUID(),
        });
      } catch (failure) {
        note.textContent = "";
        showError(error, refusal(failure));
        return;
      }
      box.dataset.saved = "true";
      note.textContent = t("work.saved");
    }),
    note,
    error,
  );
  return box;
}

async function session(programmeId, sessionId) {
  const view = await api("GET", `/api/me/programmes/${encodeURIComponent(programmeId)}`);
  const s = view.session_list.find((x) => x.id === sessionId);
  if (!s || s.state === "locked") {
    window.location.hash = `p=${encodeURIComponent(programmeId)}`;
    return;
  }
  const heading = document.getElementById("session-heading");
  heading.replaceChildren(`${t("work.session_n", { n: s.position })}: `, say("span", s.title));
  const intro = words(s.intro);
  const introNode = document.getElementById("session-intro");
  introNode.textContent = intro.text;
  if (intro.lang) introNode.setAttribute("lang", intro.lang);
  else introNode.removeAttribute("lang");
  document.getElementById("exercises").replaceChildren(...s.exercises.map((ex) => exercise(s, ex, s.answers[ex.key])));
  document.getElementById("session-back").href = `#p=${encodeURIComponent(programmeId)}`;
  const finish = document.getElementById("session-finish");
  finish.hidden = s.state === "done";
  finish.onclick = async () => {
    const error = document.getElementById("session-error");
    clearError(error);
    finish.disabled = true;
    try {
      await api("POST", `/api/me/programme-sessions/${encodeURIComponent(s.id)}/complete`);
    } catch (failure) {
      showError(error, refusal(failure));
      return;
    } finally {
      finish.disabled = false;
    }
    window.location.hash = `p=${encodeURIComponent(programmeId)}`;
    status.textContent = t("work.session_done");
  };
  show("screen-session");
}

async function route() {
  document.body.dataset.ready = "false";
  const where = place();
  if (where.programme && where.session) await session(where.programme, where.session);
  else if (where.programme) await programme(where.programme);
  else await overview();
  document.body.dataset.ready = "true";
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  // The device's page, or a former prisoner's at /community/programmes.
  const gate = document.getElementById("screen-signin-first").dataset;
  setupSignOut(() => {
    window.location.href = gate.home || "/device";
  });
  account = await currentAccount();
  if (!account || account.role !== (gate.role || "prisoner")) {
    show("screen-signin-first");
    document.body.dataset.ready = "true";
    return;
  }
  signedInAs(account);
  window.addEventListener("hashchange", () => {
    route().catch(failed);
  });
  await route();
}

function failed(failure) {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
}

main().catch(failed);
