// A former prisoner's own page, at home: sign in with email, password and the app's code;
// then the programmes they were on (carried on at /community/programmes), their learning
// record to download (PDF and JSON) and the certificates of the courses they completed.

import {
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

function setupSignIn() {
  const form = document.getElementById("community-signin");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const email = form.email.value.trim();
    const password = form.password.value;
    const totp = form.totp.value.trim();
    if (!email || !password || !/^[0-9]{6}$/.test(totp)) {
      showError(error, t("community.need_fields"));
      return;
    }
    try {
      await api("POST", "/api/auth/community", { email, password, totp, session: "cookie" });
    } catch (failure) {
      showError(error, failure);
      return;
    }
    form.reset();
    window.location.reload();
  });
}

function progressText(p) {
  return t("work.progress", { done: p.completed_sessions, total: p.programme.sessions });
}

function title(w) {
  const locale = document.documentElement.lang;
  return locale === "cy" && w.cy ? w.cy : w.en;
}

async function loadHome() {
  const [mine, record] = await Promise.all([
    api("GET", "/api/me/programmes"),
    api("GET", "/api/campus/record"),
  ]);
  const list = document.getElementById("programmes");
  list.replaceChildren(
    ...(mine.enrolled.length
      ? mine.enrolled.map((p) =>
          el(
            "li",
            { class: "card" },
            el("a", {
              href: `/community/programmes#p=${encodeURIComponent(p.programme.id)}`,
              text: title(p.programme.title),
            }),
            el("p", { text: p.completed_at ? t("community.programme_done") : progressText(p) }),
          ),
        )
      : [el("li", { text: t("community.no_programmes") })]),
  );
  const done = record.courses.filter((c) => c.status === "completed");
  document.getElementById("certificates").replaceChildren(
    ...(done.length
      ? done.map((c) =>
          el(
            "li",
            { class: "card" },
            el("p", { text: c.course_title }),
            el("button", {
              type: "button",
              class: "button secondary",
              text: t("community.certificate_for", { course: c.course_title }),
              onclick: () =>
                download(`/api/campus/courses/${encodeURIComponent(c.course_id)}/certificate`, "certificate.pdf").catch(
                  (failure) => flash(errorText(failure)),
                ),
            }),
          ),
        )
      : [el("li", { text: t("community.no_certificates") })]),
  );
}

function setupDownloads() {
  document.getElementById("record-pdf").addEventListener("click", async () => {
    try {
      await download("/api/campus/record.pdf", "learning-record.pdf");
    } catch (failure) {
      flash(errorText(failure));
    }
  });
  document.getElementById("record-json").addEventListener("click", async () => {
    try {
      await download("/api/campus/record", "learning-record.json");
    } catch (failure) {
      flash(errorText(failure));
    }
  });
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => {
    window.location.href = "/community";
  });
  setupSignIn();
  setupDownloads();
  account = await currentAccount();
  if (!account) {
    show("screen-signin");
  } else if (account.role !== "community") {
    signedInAs(account);
    show("screen-wrong-role");
  } else {
    signedInAs(account);
    show("screen-home");
    await loadHome();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
