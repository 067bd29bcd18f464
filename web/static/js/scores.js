// A person's questionnaire scores over time: one SVG line chart per questionnaire, with the band
// thresholds dashed, and the same numbers as a table (the chart's text alternative). Keyworkers
// choose from their caseload (scores only); clinicians and managers come from the duty queue with
// the person in the address's fragment (#<prisoner id>) and also see the person's own words.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatDate,
  formatDateTime,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
} from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const KINDS = {
  phq9: { title: "PHQ-9", max: 27, cuts: [5, 10, 15, 20] },
  gad7: { title: "GAD-7", max: 21, cuts: [5, 10, 15] },
  audit: { title: "AUDIT", max: 40, cuts: [8, 16, 20] },
  sds: { title: "SDS", max: 15, cuts: [] },
};
const W = 640;
const H = 240;
const PAD = { left: 40, right: 16, top: 16, bottom: 36 };

const charts = document.getElementById("charts");
const error = document.getElementById("scores-error");

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function chart(kind, points, labelId) {
  const spec = KINDS[kind];
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "trend",
    role: "img",
    "aria-labelledby": labelId,
  });
  const x = (i) => PAD.left + ((W - PAD.left - PAD.right) * (points.length === 1 ? 0.5 : i / (points.length - 1)));
  const y = (v) => H - PAD.bottom - ((H - PAD.top - PAD.bottom) * v) / spec.max;
  root.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }));
  for (const value of [0, ...spec.cuts, spec.max]) {
    const dashed = value !== 0 && value !== spec.max;
    root.append(
      svg("line", {
        x1: PAD.left,
        x2: W - PAD.right,
        y1: y(value),
        y2: y(value),
        stroke: dashed ? "#6b6b6b" : "#1b1b1b",
        "stroke-dasharray": dashed ? "4 4" : "none",
      }),
    );
    const label = svg("text", { x: PAD.left - 6, y: y(value) + 5, "text-anchor": "end", "font-size": 13 });
    label.textContent = String(value);
    root.append(label);
  }
  root.append(
    svg("polyline", {
      points: points.map((p, i) => `${x(i)},${y(p.score)}`).join(" "),
      fill: "none",
      stroke: "#00549a",
      "stroke-width": 3,
    }),
  );
  points.forEach((p, i) => {
    root.append(svg("circle", { cx: x(i), cy: y(p.score), r: 5, fill: "#00549a" }));
    // Every date while they fit; beyond five, the first and the last (the table has them all).
    if (points.length > 5 && i !== 0 && i !== points.length - 1) return;
    const anchor = points.length > 1 && i === 0 ? "start" : i === points.length - 1 && i > 0 ? "end" : "middle";
    const date = svg("text", { x: x(i), y: H - 12, "text-anchor": anchor, "font-size": 13 });
    // The short date ("3 Mar 2026") of the table's date and time.
    date.textContent = formatDateTime(p.submitted_at).replace(/,.*$/, "");
    root.append(date);
  });
  return root;
}

function table(kind, points, words) {
  const head = [t("scores.date"), t("scores.score"), t("scores.band")];
  if (words) head.push(t("scores.words"));
  return el(
    "table",
    { class: "table" },
    el("caption", { text: t("scores.table_caption", { kind: KINDS[kind].title }) }),
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el(
      "tbody",
      {},
      ...points.map((p) =>
        el(
          "tr",
          {},
          el("td", { text: formatDateTime(p.submitted_at) }),
          el("td", { text: `${p.score} / ${KINDS[kind].max}` }),
          el("td", { text: t(`scores.band_${p.band}`) }),
          words ? el("td", { text: p.comment || "" }) : null,
        ),
      ),
    ),
  );
}

let current = "";

async function showChecks(prisonerId) {
  const panel = document.getElementById("checks");
  panel.hidden = !prisonerId;
  if (!prisonerId) return;
  const data = await api("GET", `/api/prisoners/${encodeURIComponent(prisonerId)}/checks`);
  document.getElementById("checks-list").replaceChildren(
    ...(data.checks.length
      ? data.checks.map((c) =>
          el("li", {
            text: t("checks.planned", {
              kind: KINDS[c.kind].title,
              weeks: Math.round(c.every_days / 7),
              when: formatDateTime(c.next_due_at),
            }),
          }),
        )
      : [el("li", { text: t("checks.none") })]),
  );
}

document.getElementById("checks-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const checksError = document.getElementById("checks-error");
  clearError(checksError);
  const weeks = Number(document.getElementById("checks-weeks").value);
  try {
    await api("POST", `/api/prisoners/${encodeURIComponent(current)}/checks`, {
      kind: document.getElementById("checks-kind").value,
      every_days: Math.round(weeks * 7),
    });
  } catch (failure) {
    showError(checksError, failure);
    return;
  }
  document.getElementById("checks-result").textContent = t("checks.saved");
  await showChecks(current);
});

async function showScores(prisonerId) {
  clearError(error);
  charts.replaceChildren();
  current = prisonerId;
  await showChecks(prisonerId).catch((failure) => showError(error, failure));
  if (!prisonerId) return;
  let data;
  try {
    data = await api("GET", `/api/prisoners/${encodeURIComponent(prisonerId)}/scores`);
  } catch (failure) {
    showError(error, failure);
    return;
  }
  const byKind = new Map();
  for (const p of data.scores) {
    if (!KINDS[p.kind]) continue;
    if (!byKind.has(p.kind)) byKind.set(p.kind, []);
    byKind.get(p.kind).push(p);
  }
  if (!byKind.size) {
    charts.append(el("p", { text: t("scores.none") }));
    return;
  }
  const words = data.scores.some((p) => p.comment !== undefined);
  for (const [kind, points] of byKind) {
    const last = points[points.length - 1];
    const labelId = `chart-${kind}`;
    charts.append(
      el(
        "section",
        { class: "panel", "data-kind": kind },
        el("h2", { text: KINDS[kind].title }),
        el("p", {
          id: labelId,
          text: t("scores.chart_label", {
            kind: KINDS[kind].title,
            count: points.length,
            first: formatDate(points[0].submitted_at),
            last: formatDate(last.submitted_at),
            score: last.score,
            max: KINDS[kind].max,
          }),
        }),
        chart(kind, points, labelId),
        table(kind, points, words),
      ),
    );
  }
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(["keyworker", "clinician", "manager"]);
  if (account) {
    show("screen-scores");
    if (account.role === "keyworker") {
      const people = await api("GET", "/api/caseload");
      const select = document.getElementById("person");
      select.replaceChildren(
        el("option", { value: "", text: people.length ? t("scores.choose") : t("scores.no_caseload") }),
        ...people.map((p) =>
          el("option", { value: p.prisoner_id, text: [p.display_name, p.prison_number].filter(Boolean).join(", ") }),
        ),
      );
      select.addEventListener("change", () => showScores(select.value));
      document.getElementById("person-field").hidden = false;
    }
    const fromLink = decodeURIComponent(window.location.hash.slice(1));
    if (fromLink) await showScores(fromLink);
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
