// A signalling connection per docs/signalling.md: hello, resume after a drop, ping, reauth.
//
// The page's session cookie authenticates the first `hello` (the token is left out, never put
// in a URL). If the socket drops, it reconnects by itself with its resume token and tells the
// page, which says so in words.

import { api } from "./common.js";

const PING_MS = 10000;
const PONG_TIMEOUT_MS = 8000;
const RETRY_MS = [500, 1000, 2000, 3000, 5000];
const FINAL_CLOSES = new Set([1000, 1008, 1009, 4001, 4003, 4004]);

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
  }

  /** Opens the socket and resolves with the `welcome`. */
  open() {
    return new Promise((resolve, reject) => {
      const url = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/ws`;
      const socket = new WebSocket(url);
      this.socket = socket;
      let welcomed = false;
      socket.addEventListener("open", () => {
        const hello = { type: "hello", v: 1 };
        if (this.resumeToken) hello.resume = { token: this.resumeToken, last_seq: this.lastSeq };
        socket.send(JSON.stringify(hello));
      });
      socket.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (typeof message.seq === "number") this.lastSeq = Math.max(this.lastSeq, message.seq);
        if (message.type === "welcome") {
          welcomed = true;
          this.welcome = message;
          if (message.resume_token) this.resumeToken = message.resume_token;
          if (message.room && message.room.resume_token) this.resumeToken = message.room.resume_token;
          this.attempt = 0;
          this.startPings();
          resolve(message);
        } else if (message.type === "room" && message.resume_token) {
          this.resumeToken = message.resume_token;
        } else if (message.type === "pong") {
          clearTimeout(this.pongTimer);
          return;
        } else if (message.type === "reauth") {
          this.reauth();
          return;
        }
        this.dispatchEvent(new CustomEvent("message", { detail: message }));
      });
      socket.addEventListener("close", (event) => {
        this.stopPings();
        if (socket !== this.socket) return;
        if (!welcomed) reject(new Error(`closed ${event.code}`));
        this.dropped(event.code);
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

  close() {
    this.closedForGood = true;
    this.stopPings();
    if (this.socket) this.socket.close(1000);
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      clearTimeout(this.pongTimer);
      // No pong: the link is dead even if the socket has not noticed. Drop it and resume.
      this.pongTimer = setTimeout(() => this.socket && this.socket.close(4000), PONG_TIMEOUT_MS);
    }, PING_MS);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  async reauth() {
    try {
      await api("POST", "/api/auth/refresh");
      const data = await api("POST", "/api/auth/socket-token");
      this.send({ type: "reauth", token: data.token });
    } catch {
      this.dispatchEvent(new CustomEvent("expired"));
    }
  }

  dropped(code) {
    if (this.closedForGood) return;
    if (FINAL_CLOSES.has(code)) {
      this.dispatchEvent(new CustomEvent("closed", { detail: { code } }));
      return;
    }
    this.dispatchEvent(new CustomEvent("reconnecting"));
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    setTimeout(async () => {
      if (this.closedForGood) return;
      try {
        const welcome = await this.open();
        this.dispatchEvent(new CustomEvent("reconnected", { detail: welcome }));
      } catch {
        // The close handler of the failed attempt schedules the next one.
      }
    }, delay);
  }
}
