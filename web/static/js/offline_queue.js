// The device's queue of answers that could not be sent yet, in IndexedDB, sealed.
//
// Cells and devices are shared, so each item is sealed (AES-GCM) under the signed-in person's
// own queue key before it is stored. The server derives that key for the person on this
// device and hands it to their session only (GET /api/me/offline-key, never cached); the page
// imports it as a non-extractable key that can only encrypt, and keeps it in memory. Another
// person signed in here gets another key: they can neither read these items nor send them (the
// server opens each item with the key of whoever is signed in, and refuses one that does not
// open). The items carry their owner's tag (not who they are) so a page counts only its own.
// Each item has a UUID made here: sending it again changes nothing on the server.
//
// Kinds register nothing here: the page says which kind an item is (inside the seal), and
// gets each item's outcome back (questionnaire, lesson, assessment, programme). Items are sent
// in the order they were queued. See docs/offline.md.

import { ApiError, api } from "./common.js";

const DB_NAME = "tc-offline";
const STORE = "queue";
const TAG = "tc_queue_tag";
const WHO = "tc_queue_who";
export const CACHE = "tc-device-v2";
// Cached responses that say something about the person (their courses' progress, their
// programmes' sessions): dropped at sign-out. Lessons and files stay (the same for everyone).
const PERSONAL = [/^\/api\/campus\/courses\//, /^\/api\/me\/programmes\//];
const BATCH = 50;
const RETRY_MS = 3000;
// A lockdown lasts hours, and each refused try is logged: ask again less often.
const LOCKDOWN_RETRY_MS = 20000;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opening = null;
function database() {
  if (!opening) {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: "id" });
      store.createIndex("owner", "owner");
    };
    opening = request(req);
  }
  return opening;
}

async function store(mode) {
  const db = await database();
  return db.transaction(STORE, mode).objectStore(STORE);
}

// Orders the queue: milliseconds, then a counter for items queued within the same one.
let lastSeq = 0;
function nextSeq() {
  lastSeq = Math.max(Date.now() * 1000, lastSeq + 1);
  return lastSeq;
}

function toBase64(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Who was signed in on this tab, so a reload without the link still knows (no key, no answers). */
export function rememberWho(account) {
  sessionStorage.setItem(WHO, JSON.stringify({ id: account.id, role: account.role, display_name: account.display_name }));
}

export function rememberedWho() {
  try {
    return JSON.parse(sessionStorage.getItem(WHO) || "null");
  } catch {
    return null;
  }
}

/** A copy of what a page just read, kept for when the link is down (the page decides what is
 * fit to keep: never an answer). The worker keeps the same when it fetches; a page that opened
 * before the worker took charge keeps it itself. */
export async function keepCopy(path, body) {
  if (!("caches" in self)) return;
  try {
    const cache = await caches.open(CACHE);
    await cache.put(path, new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } }));
  } catch {
    // Without it the screen still works online.
  }
}

async function forgetPersonal() {
  if (!("caches" in self)) return;
  const cache = await caches.open(CACHE);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (PERSONAL.some((pattern) => pattern.test(path))) await cache.delete(request);
  }
}

/** Sign-out on any device page: the tab forgets whose queue it was showing. */
export function forgetSession() {
  sessionStorage.removeItem(WHO);
  sessionStorage.removeItem(TAG);
}

export class OfflineQueue {
  constructor({ onChange = () => {}, onOutcome = () => {} } = {}) {
    this.key = null;
    this.tag = sessionStorage.getItem(TAG);
    // Finished before the key could be fetched (a reload with the link down): held in page
    // memory, as the answers being typed are, and sealed into the queue once the key comes.
    this.held = [];
    this.state = "idle";
    this.onChange = onChange;
    this.onOutcome = onOutcome;
    this.syncing = null;
    this.timer = null;
    // Items a page is waiting to hear about (`submit`), by id.
    this.waiters = new Map();
  }

  async unlock() {
    const data = await api("GET", "/api/me/offline-key");
    this.key = await crypto.subtle.importKey("raw", fromBase64(data.key), { name: "AES-GCM" }, false, ["encrypt"]);
    this.tag = data.tag;
    sessionStorage.setItem(TAG, data.tag);
    const held = this.held.splice(0);
    for (const item of held) await this.seal(item);
  }

  lock() {
    this.key = null;
    this.tag = null;
    this.held = [];
    forgetSession();
    forgetPersonal();
  }

  async seal({ id, kind, slot, body }) {
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify({ kind, slot, body }));
    const data = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: new TextEncoder().encode(`tc-offline-v1:${id}`) },
      this.key,
      plain,
    );
    const records = await store("readwrite");
    await request(
      records.put({
        id,
        owner: this.tag,
        nonce: toBase64(nonce),
        data: toBase64(data),
        queued_at: new Date().toISOString(),
        seq: nextSeq(),
      }),
    );
  }

  /** Queue one item; returns its id. Sends nothing: call `sync`. */
  async add(kind, slot, body) {
    const item = { id: crypto.randomUUID(), kind, slot, body };
    if (this.key) await this.seal(item);
    else this.held.push(item);
    await this.changed();
    return item.id;
  }

  /** This person's records, in the order they were queued: the server plays a batch in order
   * (a session completed before the next is answered, an edit after the answer it changes). */
  async mine() {
    if (!this.tag) return [];
    const records = await store("readonly");
    const found = await request(records.index("owner").getAll(this.tag));
    return found.sort((a, b) => (a.seq || 0) - (b.seq || 0) || a.queued_at.localeCompare(b.queued_at));
  }

  /** Queue one item and send it at once if the link allows: `{state, outcome}`, where outcome
   * is the server's answer for this item, or null when it waits on the device. */
  async submit(kind, slot, body) {
    const id = await this.add(kind, slot, body);
    const heard = new Promise((resolve) => this.waiters.set(id, resolve));
    let state = await this.sync();
    // A sync already under way may have read the queue before this item was in it.
    if (state === "idle" && this.waiters.has(id)) state = await this.sync();
    if (this.waiters.has(id)) {
      this.waiters.delete(id);
      return { id, state, outcome: null };
    }
    return { id, state, outcome: await heard };
  }

  async count() {
    return (await this.mine()).length + this.held.length;
  }

  async changed() {
    this.onChange({ waiting: await this.count(), state: this.state });
  }

  async drop(ids) {
    const records = await store("readwrite");
    for (const id of ids) records.delete(id);
    await new Promise((resolve, reject) => {
      records.transaction.oncomplete = resolve;
      records.transaction.onerror = () => reject(records.transaction.error);
    });
  }

  /** Send what is waiting; returns the state: idle, offline, lockdown, signed_out or refused. */
  sync() {
    if (!this.syncing) {
      this.syncing = this.send().finally(() => {
        this.syncing = null;
      });
    }
    return this.syncing;
  }

  async send() {
    try {
      if (!this.key) await this.unlock();
      for (;;) {
        const batch = (await this.mine()).slice(0, BATCH);
        if (batch.length === 0) break;
        const done = await api("POST", "/api/sync", {
          items: batch.map((r) => ({ id: r.id, nonce: r.nonce, data: r.data })),
        });
        await this.drop(done.results.map((r) => r.id));
        for (const outcome of done.results) {
          const waiter = this.waiters.get(outcome.id);
          if (waiter) {
            this.waiters.delete(outcome.id);
            waiter(outcome);
          } else this.onOutcome(outcome);
        }
      }
      this.state = "idle";
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      if (failure.status === 0) this.state = "offline";
      else if (failure.code === "lockdown") this.state = "lockdown";
      else if (failure.status === 401) this.state = "signed_out";
      else this.state = "refused";
    }
    await this.changed();
    this.schedule();
    return this.state;
  }

  /** While something waits, try again every few seconds: the link's return is noticed by trying. */
  schedule() {
    clearTimeout(this.timer);
    this.count().then((waiting) => {
      if (waiting > 0 && this.state !== "signed_out") {
        this.timer = setTimeout(() => this.sync(), this.state === "lockdown" ? LOCKDOWN_RETRY_MS : RETRY_MS);
      }
    });
  }
}
