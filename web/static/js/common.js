// What every page shares: its strings, calling the API, errors in words, screens, language.
//
// Pages never show an API's raw code or message: `errorText` maps the problem+json `code`
// to a sentence from the page's own strings, in the page's language.

const STRINGS = JSON.parse(document.getElementById("tc-strings").textContent);
export const LOCALE = document.documentElement.lang || "en";

export function t(key, vars = {}) {
  let text = Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
  for (const [name, value] of Object.entries(vars)) {
    text = text.split(`{${name}}`).join(String(value));
  }
  return text;
}

/** An outcome reason (from /api/reasons) in the page's language; the server's English label
 * if a new code has no words yet. */
export function reasonLabel(reason) {
  const key = `reason.${reason.code}`;
  const text = t(key);
  return text === key ? reason.label : text;
}

export class ApiError extends Error {
  constructor(status, code, body) {
    super(code);
    this.status = status;
    this.code = code;
    this.body = body || {};
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function send(method, path, body, headers) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (UNSAFE.has(method)) init.headers["X-CSRF-Token"] = cookie("tc_csrf");
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network");
  }
  return response;
}

async function decode(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    const data = await response.json();
    if (!response.ok) throw new ApiError(response.status, data.code || "generic", data);
    return data;
  }
  if (!response.ok) throw new ApiError(response.status, "generic");
  return response;
}

let refreshing = null;

async function refreshSession() {
  // One refresh at a time, however many calls found the access token expired.
  if (!refreshing) {
    refreshing = send("POST", "/api/auth/refresh", undefined, {})
      .then((r) => r.ok)
      .finally(() => {
        setTimeout(() => { refreshing = null; }, 0);
      });
  }
  return refreshing;
}

// After a browser or kiosk restart the access cookie may be gone while the refresh cookie
// (HttpOnly, never seen by scripts) still holds the session: a 401 asks for a refresh once.
const REFRESHABLE = new Set(["token_expired", "unauthenticated"]);

export async function api(method, path, body, { headers = {}, retry = true } = {}) {
  const response = await send(method, path, body, headers);
  if (response.status === 401 && retry && !path.startsWith("/api/auth/")) {
    const data = await response.clone().json().catch(() => ({}));
    if (REFRESHABLE.has(data.code) && (await refreshSession())) {
      return api(method, path, body, { headers, retry: false });
    }
  }
  return decode(response);
}

/** Sends a file as the whole request body (a photo upload); a refusal is an ApiError. */
export async function upload(method, path, file) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": file.type || "application/octet-stream",
        "X-CSRF-Token": cookie("tc_csrf"),
      },
      body: file,
    });
  } catch {
    throw new ApiError(0, "network");
  }
  return decode(response);
}

/** Renews the session cookies now; false if the session is gone. */
export function renewSession() {
  return refreshSession();
}

export async function download(path, fallbackName) {
  const response = await send("GET", path, undefined, {});
  if (!response.ok) await decode(response);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

export function errorText(error) {
  if (error instanceof ApiError) {
    if (error.code === "network") return t("error.network");
    const key = `error.${error.code}`;
    if (Object.prototype.hasOwnProperty.call(STRINGS, key)) return t(key);
  }
  return t("error.generic");
}

export function showError(element, error) {
  element.textContent = typeof error === "string" ? error : errorText(error);
  element.hidden = false;
}

export function clearError(element) {
  element.textContent = "";
  element.hidden = true;
}

export function flash(text) {
  const box = document.getElementById("flash");
  if (!text) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = text;
  box.hidden = false;
}

export function show(screenId, { focus = true } = {}) {
  for (const screen of document.querySelectorAll(".screen")) {
    screen.hidden = screen.id !== screenId;
  }
  const screen = document.getElementById(screenId);
  const heading = screen && screen.querySelector("h1");
  if (focus && heading) heading.focus();
  return screen;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Dates and times from the app's own strings: Chromium has no Welsh data for Intl, which
// fell back to US English ("Monday, November 30 at 03:45 AM"). Intl only finds the numbers
// in the right time zone; the words come from en.json and cy.json.
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

function dateParts(iso, zone) {
  const options = {
    weekday: "short",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  };
  if (zone) options.timeZone = zone;
  const parts = {};
  for (const part of new Intl.DateTimeFormat("en-GB", options).formatToParts(new Date(iso))) {
    parts[part.type] = part.value;
  }
  return {
    weekday: WEEKDAYS.indexOf(parts.weekday),
    day: Number(parts.day),
    month: Number(parts.month),
    year: parts.year,
    time: `${parts.hour}:${parts.minute}`,
  };
}

export function formatTime(iso) {
  return dateParts(iso, timeZone()).time;
}

export function formatWhen(iso, zone) {
  const p = dateParts(iso, zone);
  return t("date.when", {
    weekday: t(`date.day_${p.weekday}`),
    day: p.day,
    month: t(`date.month_${p.month}`),
    time: p.time,
  });
}

/** A `t` over another language's strings: a prisoner's letter is in their language. */
export function translator(strings) {
  return (key, vars = {}) => {
    let text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
    return text;
  };
}

/** `formatWhen` and `formatDate` in the words of `say` (a `translator`). */
export function formatWhenIn(say, iso, zone) {
  const p = dateParts(iso, zone);
  return say("date.when", { weekday: say(`date.day_${p.weekday}`), day: p.day, month: say(`date.month_${p.month}`), time: p.time });
}

export function formatDateIn(say, iso, zone) {
  const p = dateParts(iso, zone);
  return say("date.date", { weekday: say(`date.day_${p.weekday}`), day: p.day, month: say(`date.month_${p.month}`), year: p.year });
}

export function formatDate(iso) {
  const p = dateParts(iso, timeZone());
  return t("date.date", { weekday: t(`date.day_${p.weekday}`), day: p.day, month: t(`date.month_${p.month}`), year: p.year });
}

export function formatDateTime(iso) {
  const p = dateParts(iso, timeZone());
  return t("date.date_time", { day: p.day, month: t(`date.month_short_${p.month}`), year: p.year, time: p.time });
}

export async function currentAccount() {
  try {
    return await api("GET", "/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export function setupLanguageSwitch(isSignedIn) {
  const button = document.getElementById("lang-switch");
  button.addEventListener("click", async () => {
    const locale = button.dataset.locale;
    document.cookie = `tc_lang=${locale}; path=/; max-age=31536000; SameSite=Strict`;
    if (isSignedIn()) {
      try {
        await api("POST", "/api/me/locale", { locale });
      } catch {
        // The cookie alone still switches this page.
      }
    }
    window.location.reload();
  });
}

export function setupSignOut(onSignedOut) {
  const button = document.getElementById("sign-out");
  button.addEventListener("click", async () => {
    try {
      await api("POST", "/api/auth/sign-out");
    } catch {
      // Signed out already, or the network is down: the page forgets the session either way.
    }
    button.hidden = true;
    document.getElementById("who").textContent = "";
    onSignedOut();
  });
}

export function signedInAs(account) {
  document.getElementById("who").textContent = t("common.signed_in_as", { name: account.display_name });
  document.getElementById("sign-out").hidden = false;
  // A link to a desk the person may not use is not shown (the server refuses it anyway).
  const mine = new Set(account.permissions || []);
  for (const link of document.querySelectorAll("[data-permission]")) {
    link.hidden = !mine.has(link.dataset.permission);
  }
}

/** The staff sign-in form shared by the clinician, manager and officer pages. */
export function setupStaffSignIn(onSignedIn) {
  const form = document.getElementById("staff-signin");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const username = form.username.value.trim();
    const password = form.password.value;
    const totp = form.totp.value.trim();
    if (!username || !password || !/^[0-9]{6}$/.test(totp)) {
      showError(error, t("staff.need_fields"));
      return;
    }
    try {
      await api("POST", "/api/auth/staff", { username, password, totp, session: "cookie" });
    } catch (failure) {
      showError(error, failure);
      return;
    }
    form.reset();
    // A fresh page takes the account's own language.
    window.location.reload();
  });
}

/** Signed in with one of `roles`? Shows the sign-in form, or the wrong-role note, if not. */
export async function staffGate(roles) {
  let account = null;
  try {
    account = await currentAccount();
  } catch (error) {
    flash(errorText(error));
  }
  if (!account) {
    show("screen-signin");
    return null;
  }
  signedInAs(account);
  if (!roles.includes(account.role)) {
    show("screen-wrong-role");
    return null;
  }
  return account;
}

export async function socketToken() {
  const data = await api("POST", "/api/auth/socket-token");
  return data.token;
}

// The server's clock, which a test may have set: times on the page are judged against it.
const SERVER_OFFSET = Date.parse(document.body.dataset.now) - Date.now();

export function serverNow() {
  return Date.now() + (Number.isNaN(SERVER_OFFSET) ? 0 : SERVER_OFFSET);
}

export function timeZone() {
  return document.body.dataset.timezone || undefined;
}
