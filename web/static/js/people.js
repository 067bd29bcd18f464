// Officers and admins: wings and cells, devices moved between cells (enrolled again), where
// each prisoner is, their incentive level, and the date of birth and photo clinicians check.
// Those two are only ever written here: the page shows whether they are on file, never them.
// Transfer and release, each confirmed in words first, end in a letter for the prisoner in
// their own language: each appointment's time and what happens to it, printable alone,
// and the kiosk's part: the money that moves with them, or on release the payout and its
// receipt number (what the kiosk's step returned; kiosk/leaving.py).

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatDateIn,
  formatDateTime,
  formatWhenIn,
  serverNow,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
  timeZone,
  translator,
  upload,
} from "./common.js";
import { pounds } from "./money_words.js";

const state = {
  account: null,
  establishment: null,
  places: null,
  roll: [],
  devices: [],
  open: null,
  destinations: [],
  leaving: null,
};
const LETTER_STRINGS = JSON.parse(document.getElementById("letter-strings").textContent);

/** A refusal in this page's words: its own reason if the API gave one, else the common text. */
function refusal(failure) {
  const reason = failure && failure.body && failure.body.reason;
  const key = `people.error.${reason}`;
  return reason && t(key) !== key ? t(key) : errorText(failure);
}

function fail(id, failure) {
  showError(document.getElementById(id), refusal(failure));
}

function status(text) {
  document.getElementById("people-status").textContent = text;
}

function query() {
  return state.account.role === "admin" ? `?establishment_id=${encodeURIComponent(state.establishment)}` : "";
}

function body(extra) {
  return state.account.role === "admin" ? { ...extra, establishment_id: state.establishment } : extra;
}

function allCells() {
  return state.places ? state.places.wings.flatMap((w) => w.cells) : [];
}

function cellOptions(select, selected) {
  select.replaceChildren(
    ...allCells().map((c) =>
      el("option", { value: c.id, text: `${c.name} (${t("people.col_wing")} ${c.wing})`, selected: c.id === selected }),
    ),
  );
}

// ------------------------------------------------------------- places

async function loadPlaces() {
  state.places = await api("GET", `/api/places${query()}`);
  const rows = state.places.wings.flatMap((w) =>
    w.cells.length
      ? w.cells.map((c) =>
          el(
            "tr",
            { "data-cell": c.name },
            el("td", { text: w.name }),
            el("td", { text: c.name }),
            el("td", { text: String(c.prisoners) }),
            el("td", { text: String(c.devices) }),
          ),
        )
      : [el("tr", { "data-wing": w.name }, el("td", { text: w.name }), el("td", { colspan: "3", text: "–" }))],
  );
  document
    .getElementById("places-cells")
    .replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "4", text: t("people.no_places") }))]));
  document
    .getElementById("cell-wing")
    .replaceChildren(...state.places.wings.map((w) => el("option", { value: w.id, text: w.name })));
  cellOptions(document.getElementById("device-cell"));
  if (state.open) cellOptions(document.getElementById("move-cell"));
  const pick = document.getElementById("place-pick");
  const picked = pick.value;
  pick.replaceChildren(
    ...state.places.wings.flatMap((w) => [
      el("option", { value: `wing:${w.id}`, text: t("people.place_option_wing", { wing: w.name }) }),
      ...w.cells.map((c) =>
        el("option", { value: `cell:${c.id}`, text: t("people.place_option_cell", { cell: c.name, wing: w.name }) }),
      ),
    ]),
  );
  if ([...pick.options].some((o) => o.value === picked)) pick.value = picked;
  const newCell = document.getElementById("new-cell");
  const chosen = newCell.value;
  newCell.replaceChildren(
    el("option", { value: "", text: t("people.new_no_cell") }),
    ...allCells().map((c) => el("option", { value: c.id, text: `${c.name} (${t("people.col_wing")} ${c.wing})` })),
  );
  if ([...newCell.options].some((o) => o.value === chosen)) newCell.value = chosen;
}

/** The wing or cell chosen in the rename-or-remove form: its kind, id and name now. */
function pickedPlace() {
  const [kind, id] = document.getElementById("place-pick").value.split(":");
  const wing = state.places.wings.find((w) => (kind === "wing" ? w.id === id : w.cells.some((c) => c.id === id)));
  const name = kind === "wing" ? wing && wing.name : wing && wing.cells.find((c) => c.id === id).name;
  return { kind, id, name };
}

// ------------------------------------------------------- new prisoner

// Which field each refusal is about: its words go beside that field.
const NEW_FIELDS = {
  bad_prison_number: "new-number",
  prison_number_taken: "new-number",
  bad_name: "new-name",
  bad_pin: "new-pin",
  bad_date_of_birth: "new-dob",
  future_date_of_birth: "new-dob",
  other_establishment: "new-cell",
  unknown_cell: "new-cell",
  no_cell: "new-cell",
};

function clearNewErrors(form) {
  for (const field of form.querySelectorAll("input, select")) {
    field.removeAttribute("aria-invalid");
    const error = document.getElementById(`${field.id}-error`);
    if (error) clearError(error);
  }
  clearError(document.getElementById("new-error"));
}

function setupNewPrisoner() {
  const form = document.getElementById("new-prisoner-form");
  const button = form.querySelector("button[type='submit']");
  let sending = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // A second press while the first is on its way is the same request: one account.
    if (sending) return;
    sending = true;
    button.disabled = true;
    clearNewErrors(form);
    const value = (id) => document.getElementById(id).value;
    const number = value("new-number").trim().toUpperCase();
    const name = value("new-name").trim();
    try {
      await api(
        "POST",
        "/api/prisoners",
        body({
          prison_number: number,
          name,
          date_of_birth: value("new-dob") || null,
          pin: value("new-pin"),
          sex: value("new-sex") || null,
          cell: value("new-cell") || null,
        }),
      );
      form.reset();
      await Promise.all([loadRoll(), loadPlaces()]);
      status(t("people.created", { name, number }));
    } catch (failure) {
      const reason = failure && failure.body && failure.body.reason;
      const fieldId = NEW_FIELDS[reason];
      if (fieldId) {
        const field = document.getElementById(fieldId);
        field.setAttribute("aria-invalid", "true");
        showError(document.getElementById(`${fieldId}-error`), refusal(failure));
        field.focus();
      } else {
        fail("new-error", failure);
      }
    } finally {
      sending = false;
      button.disabled = false;
    }
  });
}

// ------------------------------------------------------------ devices

async function loadDevices() {
  state.devices = await api("GET", `/api/devices${query()}`);
  document.getElementById("devices").replaceChildren(
    ...(state.devices.length
      ? state.devices.map((d) =>
          el(
            "tr",
            { "data-device": d.device_id },
            el("td", { text: d.cell }),
            el("td", { text: d.wing }),
            el("td", { text: t(d.enrolled ? "people.device_enrolled" : "people.device_waiting") }),
          ),
        )
      : [el("tr", {}, el("td", { colspan: "3", text: t("people.no_devices") }))]),
  );
  document.getElementById("device-pick").replaceChildren(
    ...state.devices.map((d) => el("option", { value: d.device_id, text: t("people.device_in", { cell: d.cell }) })),
  );
}

// --------------------------------------------------------------- roll

function identityWords(p) {
  if (p.has_date_of_birth && p.has_photo) return t("people.identity_both");
  if (p.has_date_of_birth) return t("people.identity_dob");
  if (p.has_photo) return t("people.identity_photo");
  return t("people.identity_none");
}

async function loadRoll() {
  state.roll = await api("GET", `/api/prisoners${query()}`);
  document.getElementById("roll").replaceChildren(
    ...(state.roll.length
      ? state.roll.map((p) =>
          el(
            "tr",
            { "data-prisoner": p.prisoner_id },
            el("td", { text: p.name }),
            el("td", { text: p.prison_number }),
            el("td", { text: p.cell || t("people.no_cell") }),
            el("td", { text: t(`level.${p.incentive_level}`) }),
            el("td", { text: identityWords(p) }),
            el(
              "td",
              {},
              el("button", {
                type: "button",
                class: "button secondary",
                "data-open-prisoner": p.prisoner_id,
                "aria-label": `${t("people.open")}: ${p.name}`,
                text: t("people.open"),
              }),
            ),
          ),
        )
      : [el("tr", {}, el("td", { colspan: "6", text: t("people.no_prisoners") }))]),
  );
  if (state.open) renderPrisoner();
}

// ----------------------------------------------------------- prisoner

function moveWords(m) {
  const when = formatDateTime(m.at);
  const from = m.from_cell || t("people.nowhere");
  const to = m.to_cell || t("people.nowhere");
  if (m.kind === "release") return t("people.move_release", { when, from });
  if (m.kind === "transfer" && m.to_establishment_id === state.establishment) {
    return t("people.move_transfer", { when, to });
  }
  if (m.kind === "transfer") return t("people.move_transfer_out", { when, from });
  if (!m.from_cell) return t("people.move_placed", { when, to });
  return t("people.move_move", { when, from, to });
}

function list(id, items) {
  document
    .getElementById(id)
    .replaceChildren(...(items.length ? items.map((text) => el("li", { text })) : [el("li", { text: t("people.history_none") })]));
}

async function renderPrisoner() {
  const p = state.roll.find((r) => r.prisoner_id === state.open);
  const panel = document.getElementById("prisoner");
  if (!p) {
    panel.hidden = true;
    state.open = null;
    return;
  }
  panel.hidden = false;
  panel.dataset.prisoner = p.prisoner_id;
  document.getElementById("prisoner-heading").textContent = t("people.prisoner_heading", {
    name: p.name,
    number: p.prison_number,
  });
  document.getElementById("identity-on-file").textContent = identityWords(p);
  cellOptions(document.getElementById("move-cell"), p.cell_id);
  const id = encodeURIComponent(p.prisoner_id);
  const [where, level] = await Promise.all([
    api("GET", `/api/prisoners/${id}/cells`),
    api("GET", `/api/prisoners/${id}/incentive`),
  ]);
  document.getElementById("prisoner-where").textContent = where.cell
    ? t("people.where", { cell: where.cell, wing: where.wing })
    : t("people.where_none");
  document.getElementById("level-now").textContent = t("people.level_now", { level: t(`level.${level.level}`) });
  list("cell-history", where.history.map(moveWords));
  list(
    "level-history",
    level.history.map((c) =>
      t("people.level_change", {
        when: formatDateTime(c.at),
        from: t(`level.${c.from_level}`),
        to: t(`level.${c.level}`),
        reason: c.reason === null ? t("people.reason_unreadable") : c.reason,
      }),
    ),
  );
}

async function openPrisoner(prisonerId) {
  state.open = prisonerId;
  for (const id of ["move-error", "level-error", "dob-error", "photo-error", "leave-error"]) {
    clearError(document.getElementById(id));
  }
  document.getElementById("leave-confirm").hidden = true;
  state.leaving = null;
  document.getElementById("photo-form").reset();
  document.getElementById("photo-preview").hidden = true;
  await renderPrisoner();
  document.getElementById("prisoner-heading").focus();
}

async function reload() {
  await Promise.all([loadPlaces(), loadDevices(), loadRoll(), loadDestinations()]);
}

// ------------------------------------------------- transfer and release

async function loadDestinations() {
  const found = await api("GET", "/api/transfer-destinations");
  state.destinations = found.filter((e) => e.id !== state.establishment);
  const select = document.getElementById("transfer-to");
  select.replaceChildren(
    ...(state.destinations.length
      ? state.destinations.map((e) => el("option", { value: e.id, text: e.name }))
      : [el("option", { value: "", text: t("people.no_destinations") })]),
  );
}

/** Says what will happen before anything does; "Yes" does it. */
function askToLeave(leaving) {
  const p = state.roll.find((r) => r.prisoner_id === state.open);
  if (!p) return;
  state.leaving = { ...leaving, prisoner: p };
  clearError(document.getElementById("leave-error"));
  const vars = { name: p.name, establishment: leaving.to ? leaving.to.name : "" };
  const keys =
    leaving.kind === "transfer"
      ? ["people.confirm_transfer_moved", "people.confirm_transfer_reoffered", "people.confirm_transfer_money", "people.confirm_transfer_rest"]
      : ["people.confirm_release_account", "people.confirm_release_care", "people.confirm_release_money", "people.confirm_release_rest"];
  document.getElementById("leave-confirm-heading").textContent = t(`people.confirm_${leaving.kind}_heading`, vars);
  document.getElementById("leave-confirm-list").replaceChildren(...keys.map((k) => el("li", { text: t(k, vars) })));
  document.getElementById("leave-yes").textContent = t(`people.confirm_yes_${leaving.kind}`);
  const box = document.getElementById("leave-confirm");
  box.hidden = false;
  document.getElementById("leave-confirm-heading").focus();
}

function closeConfirm() {
  document.getElementById("leave-confirm").hidden = true;
  const back = state.leaving && state.leaving.kind === "release" ? "release-button" : "transfer-to";
  state.leaving = null;
  return back;
}

/** The prisoner's letter, in their language: each appointment's time and what happens to it. */
function renderLetter(leaving, done) {
  const say = translator(LETTER_STRINGS[done.locale] || LETTER_STRINGS.en);
  const p = leaving.prisoner;
  const there = leaving.to ? leaving.to.name : "";
  const zone = (leaving.to && leaving.to.timezone) || timeZone();
  const letter = document.getElementById("letter");
  letter.lang = done.locale;
  document.getElementById("letter-heading").textContent = say("letter.heading");
  document.getElementById("letter-to").textContent = say("letter.to", { name: p.name, number: p.prison_number });
  document.getElementById("letter-date").textContent = say("letter.date", {
    date: formatDateIn(say, new Date(serverNow()).toISOString(), timeZone()),
  });
  document.getElementById("letter-what").textContent = say(leaving.kind === "transfer" ? "letter.transferred" : "letter.released", {
    establishment: there,
  });
  document.getElementById("letter-appointments").replaceChildren(
    ...(done.appointments.length
      ? done.appointments.map((a) =>
          el("li", {
            "data-fate": a.fate,
            text: say(`letter.${a.fate}`, { when: formatWhenIn(say, a.starts_at, zone), establishment: there }),
          }),
        )
      : [el("li", { text: say("letter.none") })]),
  );
  renderMoney(say, leaving, done.steps && done.steps.kiosk_money);
  renderCommunity(say, done);
  document.getElementById("letter-account").textContent = say(
    leaving.kind === "transfer" ? "letter.account_transferred" : "letter.account_released",
    { establishment: there },
  );
}

/** On release, the community account's one-time claim code: on the letter, and nowhere else
 * the page keeps it (it is not in the address, the page's storage or any log). */
function renderCommunity(say, done) {
  const part = document.getElementById("letter-community-part");
  const claim = done.handout && done.handout.community;
  part.hidden = !claim || typeof claim !== "object";
  if (part.hidden) {
    document.getElementById("letter-community-code").textContent = "";
    return;
  }
  document.getElementById("letter-community-heading").textContent = say("letter.community_heading");
  document.getElementById("letter-community").textContent = say("letter.community_text", {
    address: `${window.location.origin}${claim.claim_path}`,
    date: formatDateIn(say, claim.expires_at, timeZone()),
  });
  document.getElementById("letter-community-code").textContent = claim.code;
}

/** The kiosk's part of the letter: the money that moved, or the payout and its receipt. */
function renderMoney(say, leaving, money) {
  const part = document.getElementById("letter-money-part");
  part.hidden = !money || typeof money !== "object";
  if (part.hidden) return;
  document.getElementById("letter-money-heading").textContent = say("letter.money_heading");
  const orders = document.getElementById("letter-orders");
  orders.hidden = !money.orders_cancelled;
  orders.textContent = say("letter.orders_cancelled", {
    count: money.orders_cancelled,
    amount: pounds(money.refunded_pence),
  });
  const sums = {
    private: pounds(money.private_pence),
    spends: pounds(money.spends_pence),
    total: pounds(money.private_pence + money.spends_pence),
    receipt: money.receipt || "",
  };
  let words = "letter.money_moved";
  if (leaving.kind === "release") words = money.receipt ? "letter.money_paid" : "letter.money_none";
  document.getElementById("letter-money").textContent = say(words, sums);
}

async function leave() {
  const leaving = state.leaving;
  if (!leaving) return;
  const yes = document.getElementById("leave-yes");
  yes.disabled = true;
  const id = encodeURIComponent(leaving.prisoner.prisoner_id);
  try {
    const done =
      leaving.kind === "transfer"
        ? await api("POST", `/api/prisoners/${id}/transfer`, { to_establishment_id: leaving.to.id })
        : await api("POST", `/api/prisoners/${id}/release`);
    closeConfirm();
    const name = leaving.prisoner.name;
    document.getElementById("leaving-result").textContent =
      leaving.kind === "transfer"
        ? t("people.transferred", { name, establishment: leaving.to.name, moved: done.moved, reoffered: done.reoffered })
        : t("people.released", { name, closed: done.closed });
    const money = done.steps && done.steps.kiosk_money;
    if (money && typeof money === "object") {
      const more = [];
      if (money.orders_cancelled) more.push(t("people.orders_refunded", { count: money.orders_cancelled }));
      if (leaving.kind === "release" && money.receipt) {
        more.push(t("people.paid_out", { total: pounds(money.private_pence + money.spends_pence), receipt: money.receipt }));
      }
      if (more.length) document.getElementById("leaving-result").textContent += ` ${more.join(" ")}`;
    }
    const claim = done.handout && done.handout.community;
    if (claim && claim.code) {
      document.getElementById("leaving-result").textContent += ` ${t("people.community_code", { name, code: claim.code })}`;
    }
    renderLetter(leaving, done);
    document.getElementById("leaving").hidden = false;
    await Promise.all([loadRoll(), loadPlaces()]);
    document.getElementById("leaving-heading").focus();
  } catch (failure) {
    const back = closeConfirm();
    fail("leave-error", failure);
    document.getElementById(back).focus();
  } finally {
    yes.disabled = false;
  }
}

function setupLeaving() {
  document.getElementById("transfer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const to = state.destinations.find((e) => e.id === document.getElementById("transfer-to").value);
    if (to) askToLeave({ kind: "transfer", to });
  });
  document.getElementById("release-button").addEventListener("click", () => askToLeave({ kind: "release" }));
  document.getElementById("leave-yes").addEventListener("click", () => {
    leave().catch((failure) => flash(errorText(failure)));
  });
  document.getElementById("leave-no").addEventListener("click", () => {
    document.getElementById(closeConfirm()).focus();
  });
  document.getElementById("print-letter").addEventListener("click", () => window.print());
}

// -------------------------------------------------------------- forms

function onSubmit(id, errorId, work) {
  const form = document.getElementById(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById(errorId);
    clearError(error);
    try {
      await work(form);
    } catch (failure) {
      fail(errorId, failure);
    }
  });
}

function setup() {
  onSubmit("wing-form", "wing-error", async (form) => {
    const wing = await api("POST", "/api/wings", body({ name: form.name.value.trim() }));
    form.reset();
    await loadPlaces();
    status(t("people.wing_added", { wing: wing.name }));
  });
  onSubmit("cell-form", "cell-error", async (form) => {
    const cell = await api("POST", "/api/cells", body({ wing_id: form.wing.value, name: form.name.value.trim() }));
    form.name.value = "";
    await loadPlaces();
    status(t("people.cell_added", { cell: cell.name, wing: cell.wing }));
  });
  onSubmit("place-form", "place-error", async (form) => {
    const place = pickedPlace();
    if (!place.id) return;
    const path = place.kind === "wing" ? "/api/wings" : "/api/cells";
    const renamed = await api("PUT", `${path}/${encodeURIComponent(place.id)}/name`, body({ name: form.name.value.trim() }));
    form.name.value = "";
    await Promise.all([loadPlaces(), loadDevices(), loadRoll()]);
    status(t(`people.${place.kind}_renamed`, { from: place.name, to: renamed.name }));
  });
  document.getElementById("remove-place").addEventListener("click", async () => {
    const error = document.getElementById("place-error");
    clearError(error);
    const place = pickedPlace();
    if (!place.id) return;
    const path = place.kind === "wing" ? "/api/wings" : "/api/cells";
    try {
      await api("DELETE", `${path}/${encodeURIComponent(place.id)}${query()}`);
      await loadPlaces();
      status(t(`people.${place.kind}_removed`, { [place.kind]: place.name }));
    } catch (failure) {
      fail("place-error", failure);
    }
  });
  setupNewPrisoner();
  setupLeaving();
  onSubmit("device-form", "device-error", async (form) => {
    document.getElementById("device-result").hidden = true;
    const moved = await api("POST", `/api/devices/${encodeURIComponent(form.device.value)}/move`, {
      cell: form.cell.value,
    });
    await Promise.all([loadDevices(), loadPlaces()]);
    document.getElementById("device-moved").textContent = t("people.device_moved", { cell: moved.cell });
    document.getElementById("device-code").textContent = moved.enrolment_code;
    document.getElementById("device-result").hidden = false;
  });
  onSubmit("move-form", "move-error", async (form) => {
    const where = await api("POST", `/api/prisoners/${encodeURIComponent(state.open)}/cell`, { cell: form.cell.value });
    await Promise.all([loadRoll(), loadPlaces()]);
    status(t("people.moved", { cell: where.cell }));
  });
  onSubmit("level-form", "level-error", async (form) => {
    const reason = form.reason.value.trim();
    if (!reason) {
      showError(document.getElementById("level-error"), t("people.error.reason_required"));
      form.reason.focus();
      return;
    }
    const level = await api("POST", `/api/prisoners/${encodeURIComponent(state.open)}/incentive`, {
      level: form.level.value,
      reason,
    });
    form.reset();
    await loadRoll();
    status(t("people.level_changed", { level: t(`level.${level.level}`) }));
  });
  onSubmit("dob-form", "dob-error", async (form) => {
    await api("PUT", `/api/prisoners/${encodeURIComponent(state.open)}/date-of-birth`, {
      date_of_birth: form.dob.value,
    });
    form.reset();
    await loadRoll();
    status(t("people.dob_saved"));
  });
  const photo = document.getElementById("photo");
  const preview = document.getElementById("photo-preview");
  photo.addEventListener("change", () => {
    if (preview.src) URL.revokeObjectURL(preview.src);
    const file = photo.files[0];
    preview.hidden = !file;
    if (file) preview.src = URL.createObjectURL(file);
  });
  onSubmit("photo-form", "photo-error", async (form) => {
    const file = form.photo.files[0];
    if (!file) {
      showError(document.getElementById("photo-error"), t("people.photo_none"));
      return;
    }
    await upload("PUT", `/api/prisoners/${encodeURIComponent(state.open)}/photo`, file);
    form.reset();
    preview.hidden = true;
    await loadRoll();
    status(t("people.photo_saved"));
  });
  document.getElementById("roll").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-open-prisoner]");
    if (button) openPrisoner(button.dataset.openPrisoner).catch((failure) => flash(errorText(failure)));
  });
}

async function chooseEstablishment() {
  if (state.account.role !== "admin") {
    state.establishment = state.account.establishment_id;
    return;
  }
  const found = await api("GET", "/api/establishments");
  const select = document.getElementById("establishment");
  select.replaceChildren(...found.map((e) => el("option", { value: e.id, text: e.name })));
  document.getElementById("establishment-choice").hidden = false;
  state.establishment = found.length ? found[0].id : null;
  select.addEventListener("change", () => {
    state.establishment = select.value;
    state.open = null;
    document.getElementById("prisoner").hidden = true;
    reload().catch((failure) => flash(errorText(failure)));
  });
}

async function main() {
  setupLanguageSwitch(() => state.account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  setup();
  state.account = await staffGate(["officer", "admin"]);
  if (state.account) {
    show("screen-people");
    await chooseEstablishment();
    if (state.establishment) await reload();
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
