// What the device remembers of the consult it is in, so that a reload, or a kiosk that
// restarts, goes straight back to it without a new check. The server decides where: the call,
// within the reclaim window; the waiting room, past it. Only the appointment's id, the check
// result and whether the prisoner chose to leave are kept, never anything clinical.

const KEY = "tc_consult";
const KEEP_MS = 3 * 3600 * 1000;

function read() {
  try {
    const record = JSON.parse(window.localStorage.getItem(KEY) || "null");
    if (!record || typeof record.appointment !== "string") return null;
    if (!(Date.now() - record.at < KEEP_MS)) {
      window.localStorage.removeItem(KEY);
      return null;
    }
    return record;
  } catch {
    return null;
  }
}

/** The consult this device is in, if any (or the one asked for). */
export function recall(appointment = null) {
  const record = read();
  if (!record || (appointment && record.appointment !== appointment)) return null;
  return record;
}

export function remember(appointment, fields) {
  const before = recall(appointment) || {};
  const record = { ...before, ...fields, appointment, at: Date.now() };
  window.localStorage.setItem(KEY, JSON.stringify(record));
}

export function forget() {
  window.localStorage.removeItem(KEY);
}
