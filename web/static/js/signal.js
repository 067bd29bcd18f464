// A signalling connection per docs/signalling.md: hello, resume after a drop, ping, reauth.
//
// The page's session cookie authenticates the first `hello` (the token is left out, never put
// in a URL). The page hears of every change of the link and never waits silently:
//   "message"   every server message but welcome/pong/reauth (detail: the message)
//   "down"      the link is lost; it is being retried (detail: {code})
//   "up"        connected again (detail: the welcome; `resumed` says whether the room came back)
//   "closed"    closed for good by the server (detail: {code}); the page says why
//   "signedout" the session is gone (ended elsewhere, 4005-4009, or could not be renewed); sign in again
//
// A server that refuses a connection because this page reconnects too fast (`error`
// `too_many_connections`, then close 1013) says how long to wait (`retry_after_s`): the page
// waits that long, plus a little jitter so a crowd does not come back in one instant, instead
// of its usual backoff, and stays "reconnecting" meanwhile; the refusal is no news for the page.
//
// A dead link is found from this side too: a `ping` with no `pong` within a few seconds, or a
// connection that is not welcomed in time, is abandoned at once (a browser waits up to a
// minute to close a socket nobody answers) and a new one resumes the room.

import { api, renewSession } from "./common.js";

const PING_MS = 3000;
const PONG_TIMEOUT_MS = 4000;
const OPEN_TIMEOUT_MS = 6000;
const RETRY_MS = [300, 1000, 2000, 3000, 5000];
const REAUTH_RETRY_MS = 5000;
/** Closes after which reconnecting cannot help: flood, too big, replaced by a newer one. */
const FINAL = new Set([1000, 1008, 1009, 4003]);
/** Closes that mean "sign in again": renew the session, then resume. */
const AUTH = new Set([4001, 4004]);
// 4005 signed out, 4006 session revoked, 4007 device revoked, 4008 account disabled,
// 4009 released (docs/signalling.md).
const ENDED = new Set([4005, 4006, 4007, 4008, 4009]);
/** Our own code for a link we gave up on (no pong, no welcome). */
const ABANDONED = 4000;
/** "Try again later": after `too_many_connections`, not before its `retry_after_s`. */
const TRY_LATER = 1013;
/** Added to a told wait, at most: a tenth of it, up to three seconds. */
const JITTER_SHARE = 0.1;
const JITTER_MAX_MS = 3000;

/** How long to wait when told to wait `seconds`: never less, a little more at random. */
export function toldWait(seconds) {
  const ms = Math.max(1, Number(seconds) || 1) * 1000;
  return ms + Math.random() * Math.min(ms * JITTER_SHARE, JITTER_MAX_MS);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Signal extends EventTarget {
  constructor() {
    super();
    this.socket = null;
    this.lastSeq = 0;
    this.resumeToken = null;
    this.welcome = null;
    this.closedForGood = false;
    this.attempt = 0;
    this.pingTimer = null;
    this.pongTimer = null;
    this.retryTimer = null;
    this.renewed = false;
    /** The wait the server told us (ms), for the next attempt only. */
    this.retryAfterMs = null;
  }

  /** Opens the socket and resolves with the `welcome`; renews the session once if need be. */
  async open() {
    try {
      return await this.connectWhenLet();
    } catch (error) {
      if (!AUTH.has(error.code) || !(await renewSession())) throw error;
      return this.connectWhenLet();
    }
  }

  /** `connect`, waiting as told (a few times) when the server says this page comes too often. */
  async connectWhenLet() {
    for (let tries = 1; ; tries += 1) {
      try {
        return await this.connect();
      } catch (error) {
        const wait = this.takeRetryAfter();
        if (error.code !== TRY_LATER || wait === null || tries >= 3 || this.closedForGood) throw error;
        await sleep(wait);
      }
    }
  }

  takeRetryAfter() {
    const wait = this.retryAfterMs;
    this.retryAfterMs = null;
    return wait;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const url = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/ws`;
      const socket = new WebSocket(url);
      this.socket = socket;
      let welcomed = false;
      const fail = (code) => {
        const error = new Error(`closed ${code}`);
        error.code = code;
        reject(error);
      };
      // A first connection that fails is the caller's to report; a later one keeps trying.
      const reconnecting = this.welcome !== null;
      const timeout = setTimeout(() => {
        if (welcomed || socket !== this.socket) return;
        this.abandon(socket);
        fail(ABANDONED);
        if (reconnecting) this.dropped(ABANDONED);
      }, OPEN_TIMEOUT_MS);
      socket.addEventListener("open", () => {
        const hello = { type: "hello", v: 1 };
        if (this.resumeToken) hello.resume = { token: this.resumeToken, last_seq: this.lastSeq };
        socket.send(JSON.stringify(hello));
      });
      socket.addEventListener("message", (event) => {
        if (socket !== this.socket) return;
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (typeof message.seq === "number") this.lastSeq = Math.max(this.lastSeq, message.seq);
        if (message.type === "error" && message.code === "too_many_connections") {
          // The close (1013) follows; the next attempt waits as told (`retry`).
          this.retryAfterMs = toldWait(message.retry_after_s);
          return;
        }
        if (message.type === "welcome") {
          welcomed = true;
          clearTimeout(timeout);
          this.welcome = message;
          if (message.resume_token) this.resumeToken = message.resume_token;
          if (message.room && message.room.resume_token) this.resumeToken = message.room.resume_token;
          this.attempt = 0;
          this.renewed = false;
          this.retryAfterMs = null;
          this.startPings();
          resolve(message);
          return;
        }
        if (message.type === "pong") {
          clearTimeout(this.pongTimer);
          this.pongTimer = null;
          return;
        }
        if (message.type === "reauth") {
          this.reauth();
          return;
        }
        if (message.type === "room" && message.resume_token) this.resumeToken = message.resume_token;
        this.dispatchEvent(new CustomEvent("message", { detail: message }));
      });
      socket.addEventListener("close", (event) => {
        clearTimeout(timeout);
        if (socket !== this.socket) return;
        this.stopPings();
        if (!welcomed) fail(event.code);
        if (welcomed || reconnecting) this.dropped(event.code);
      });
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ v: 1, ...message }));
      return true;
    }
    return false;
  }

  get online() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN && this.welcome);
  }

  close() {
    this.closedForGood = true;
    this.stopPings();
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
  }

  /** Forget the room: the next connection joins afresh instead of resuming. */
  forgetRoom() {
    this.resumeToken = null;
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      if (this.pongTimer) return;
      // No pong: the link is dead even if the socket has not noticed. Give it up and resume.
      this.pongTimer = setTimeout(() => {
        this.pongTimer = null;
        const socket = this.socket;
        if (!socket) return;
        this.abandon(socket);
        this.dropped(ABANDONED);
      }, PONG_TIMEOUT_MS);
    }, PING_MS);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  /** Stop listening to `socket` now; the browser may take a minute to close it. */
  abandon(socket) {
    if (socket === this.socket) this.socket = null;
    this.stopPings();
    try {
      socket.close(ABANDONED);
    } catch {
      // Already closing.
    }
  }

  async reauth() {
    try {
      if (!(await renewSession())) throw new Error("session gone");
      const data = await api("POST", "/api/auth/socket-token");
      this.send({ type: "reauth", token: data.token });
    } catch {
      // The network may be down for a moment: try again while the token lasts. If it runs
      // out, the server closes with 4004 and the participant is only away (`dropped`).
      clearTimeout(this.reauthTimer);
      this.reauthTimer = setTimeout(() => {
        if (!this.closedForGood && this.online) this.reauth();
      }, REAUTH_RETRY_MS);
    }
  }

  dropped(code) {
    if (this.closedForGood) return;
    // A 4xxx code this page does not know is the server's word that this connection is
    // over (a newer server may close for reasons of its own): reconnecting by itself
    // could fight another tab for the place, so the page says so and offers to try again.
    if (ENDED.has(code)) {
      // The session is over on every node (signed out, revoked, disabled, released):
      // only a new sign-in comes back, so the page goes where a failed renewal goes.
      this.closedForGood = true;
      this.dispatchEvent(new CustomEvent("signedout", { detail: { code } }));
      return;
    }
    if (FINAL.has(code) || (code > 4004 && code < 5000)) {
      this.closedForGood = true;
      this.dispatchEvent(new CustomEvent("closed", { detail: { code } }));
      return;
    }
    this.dispatchEvent(new CustomEvent("down", { detail: { code } }));
    if (AUTH.has(code)) {
      this.retry(async () => {
        if (this.renewed || !(await renewSession())) {
          this.closedForGood = true;
          this.dispatchEvent(new CustomEvent("signedout", { detail: { code } }));
          return false;
        }
        this.renewed = true;
        return true;
      });
      return;
    }
    this.retry(async () => true);
  }

  retry(before) {
    clearTimeout(this.retryTimer);
    const told = this.takeRetryAfter();
    const delay = told ?? RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    this.retryTimer = setTimeout(async () => {
      if (this.closedForGood || !(await before())) return;
      try {
        const welcome = await this.connect();
        this.dispatchEvent(new CustomEvent("up", { detail: welcome }));
      } catch {
        // The close handler of the failed attempt schedules the next one.
      }
    }, delay);
  }
}

/** The words for a close that ended the connection, for both faces. */
export function closeWords(code, t) {
  if (code === 4003 || code === 4010) return t("consult.replaced");
  if (code === 1008) return t("consult.closed_flood");
  return t("consult.closed_other");
}
