// Admins: the job runner's counts and backlog, recent jobs, run a failed job again, cancel one.

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

const STATUSES = ["pending", "running", "failed", "done", "cancelled"];
const KIND_KEYS = {
  "scheduling.reminders": "jobs.kind_reminders",
  "scheduling.lockdown_end": "jobs.kind_lockdown_end",
  "scheduling.close_windows": "jobs.kind_close_windows",
  "jobs.prune": "jobs.kind_prune",
  "notifications.deliver": "jobs.kind_deliver",
  "notifications.email": "jobs.kind_email",
  "scheduling.handover_send": "jobs.kind_handover_send",
};
// Errors named by the handlers (the runner keeps an exception's type only).
const ERROR_KEYS = {
  MailRefused: "jobs.error_MailRefused",
  MailUnreachable: "jobs.error_MailUnreachable",
};

const form = () => document.getElementById("jobs-filter");
const error = () => document.getElementById("jobs-error");

function kindName(kind) {
  return KIND_KEYS[kind] ? t(KIND_KEYS[kind]) : kind;
}

function renderCounts(data) {
  const list = document.getElementById("jobs-counts");
  list.replaceChildren(
    ...STATUSES.map((status) =>
      el("li", { "data-status": status }, el("span", { class: "count" }, String(data.counts[status] || 0)), " ", t(`jobs.status_${status}`)),
    ),
  );
  const backlog = document.getElementById("jobs-backlog");
  backlog.textContent = data.due
    ? t("jobs.backlog", { due: data.due, seconds: Math.round(data.oldest_due_seconds) })
    : t("jobs.backlog_none");
}

async function act(job, action) {
  clearError(error());
  try {
    await api("POST", `/api/admin/jobs/${encodeURIComponent(job.id)}/${action}`);
    flash(t(action === "retry" ? "jobs.retried" : "jobs.cancelled", { kind: kindName(job.kind) }));
  } catch (failure) {
    showError(error(), failure);
  }
  await load();
}

function actions(job) {
  const cell = el("td");
  const label = kindName(job.kind);
  if (job.status === "failed" || job.status === "pending") {
    cell.append(el("button", { type: "button", class: "button secondary", "aria-label": t("jobs.retry_label", { kind: label }), onclick: () => act(job, "retry") }, t("jobs.retry")));
  }
  if (!job.recurring && (job.status === "pending" || job.status === "running")) {
    cell.append(" ", el("button", { type: "button", class: "button danger", "aria-label": t("jobs.cancel_label", { kind: label }), onclick: () => act(job, "cancel") }, t("jobs.cancel")));
  }
  return cell;
}

function row(job) {
  let due = formatDateTime(job.due_at);
  if (job.next_try_at && job.next_try_at !== job.due_at) due = t("jobs.next_try", { time: formatDateTime(job.next_try_at) });
  const attempts = job.max_attempts ? t("jobs.attempts_of", { n: job.attempts, max: job.max_attempts }) : String(job.attempts);
  return el(
    "tr",
    { "data-job": job.id, "data-status": job.status },
    el("td", {}, kindName(job.kind), job.recurring ? el("span", { class: "hint" }, ` (${t("jobs.recurring")})`) : null),
    el("td", {}, t(`jobs.status_${job.status}`)),
    el("td", {}, due),
    el("td", {}, attempts),
    el("td", {}, ERROR_KEYS[job.last_error] ? t(ERROR_KEYS[job.last_error]) : job.last_error || ""),
    actions(job),
  );
}

async function load() {
  const status = form().status.value;
  const query = status ? `?status=${encodeURIComponent(status)}` : "";
  const rows = document.getElementById("jobs-rows");
  try {
    const data = await api("GET", `/api/admin/jobs${query}`);
    renderCounts(data);
    rows.replaceChildren(...(data.jobs.length ? data.jobs.map(row) : [el("tr", {}, el("td", { colspan: "6" }, t("jobs.none")))]));
  } catch (failure) {
    showError(error(), failure);
  }
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  form().addEventListener("submit", async (event) => {
    event.preventDefault();
    flash("");
    await load();
  });
  account = await staffGate(["admin"]);
  if (account) {
    show("screen-jobs");
    await load();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
