// The other links of a consult with third parties (issue 18): an interpreter, a chaperone or
// an officer. Up to four people, each pair with a browser-to-browser link of its own (a mesh).
// Of two members, the one whose role comes first in OFFER_ORDER offers (signalling/rooms.py);
// a member on hold has every link to it closed, and the server relays nothing to or from it.
//
// What a page sends upstream is shared out between all its links by upstream.js (the device's
// stays at or under 1,500 kbit/s with four people and the recorder): a link to a third party
// gets a quarter of the pixels, and sound only if the budget is short (docs/signalling.md,
// "Third parties").

import { el } from "./common.js";
import { PeerLink, rtcConfiguration } from "./call.js";
import { Upstream } from "./upstream.js";

export const OFFER_ORDER = ["clinician", "interpreter", "chaperone", "officer", "patient"];
const MAIN_ROLES = new Set(["patient", "clinician"]);
const NEGOTIATION = new Set(["offer", "answer", "candidate"]);

function rank(member) {
  const i = OFFER_ORDER.indexOf(member.role);
  return [i < 0 ? OFFER_ORDER.length : i, member.participant];
}

/** Whether `me` offers to `other`. */
export function offersTo(me, other) {
  const [a, b] = [rank(me), rank(other)];
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** The kind of link (upstream.js) from a page of role `mine` to a member of role `theirs`. */
export function linkKind(mine, theirs) {
  if (!MAIN_ROLES.has(theirs)) return "third";
  return MAIN_ROLES.has(mine) ? "main" : "party";
}

export class Mesh {
  /**
   * `me`: {participant, role}; `stream()`: the page's own media; `ice()`: the iceServers now;
   * `tiles`: the element the remote tiles go in; `label(role)`: a role's words;
   * `primary(participant)`: true for the member the page's own code links to (left alone here);
   * `upstream`: the page's budget (upstream.js), shared with its other links if it has any.
   */
  constructor(signal, { me, stream, ice, device = false, relayOnly = false, tiles, label, primary = () => false, upstream = new Upstream() }) {
    Object.assign(this, { signal, me, stream, ice, device, relayOnly, tiles, label, primary, upstream });
    this.links = new Map();
    this.roles = new Map();
  }

  configuration() {
    return rtcConfiguration(this.ice(), { device: this.device, relayOnly: this.relayOnly });
  }

  tile(participant, role) {
    let figure = this.tiles.querySelector(`[data-participant="${CSS.escape(participant)}"]`);
    if (!figure) {
      const video = el("video", { autoplay: "", playsinline: "", "aria-label": this.label(role) });
      video.muted = false;
      figure = el("figure", { class: "tile", "data-participant": participant, "data-role": role }, video, el("figcaption", { text: this.label(role) }));
      this.tiles.append(figure);
    }
    this.tiles.hidden = false;
    return figure.querySelector("video");
  }

  async link(member) {
    const existing = this.links.get(member.participant);
    if (existing) return existing;
    this.roles.set(member.participant, member.role);
    const video = this.tile(member.participant, member.role);
    const link = new PeerLink(this.signal, member.participant, this.configuration(), await this.stream(), {
      onTrack: (remote) => {
        video.srcObject = remote;
      },
    });
    this.links.set(member.participant, link);
    // Capped before anything is sent: third parties get a smaller picture (upstream.js).
    await this.upstream.set(member.participant, linkKind(this.me.role, member.role), link.pc);
    return link;
  }

  /** An admitted member (a `joined`, or one in a snapshot, `fresh: false`): link to it, offering if it is ours to. */
  async joined(member, { fresh = true } = {}) {
    if (member.participant === this.me.participant || this.primary(member.participant)) return;
    if (member.on_hold) return;
    // A `joined` is a new page on the other side: its old link is gone. A member listed in a
    // snapshot keeps the link it has (its offer may have come first).
    if (!fresh && this.links.has(member.participant)) return;
    this.drop(member.participant);
    const link = await this.link(member);
    if (offersTo(this.me, member)) await link.offer();
  }

  /** A relayed negotiation message; true if it was for one of these links. */
  async handle(message) {
    if (!NEGOTIATION.has(message.type) || this.primary(message.from)) return false;
    let link = this.links.get(message.from);
    if (!link) {
      if (message.type !== "offer") return false;
      link = await this.link({ participant: message.from, role: this.roles.get(message.from) || "participant" });
    }
    await link.handle(message);
    return true;
  }

  know(members) {
    for (const m of members || []) this.roles.set(m.participant, m.role);
  }

  /** Close the link to `participant` (on hold, left, or away for good) and remove its tile. */
  drop(participant) {
    const link = this.links.get(participant);
    if (link) {
      link.close();
      this.upstream.remove(participant, link.pc);
    }
    this.links.delete(participant);
    const figure = this.tiles.querySelector(`[data-participant="${CSS.escape(participant)}"]`);
    if (figure) figure.remove();
    this.tiles.hidden = this.links.size === 0;
  }

  closeAll() {
    for (const participant of [...this.links.keys()]) this.drop(participant);
  }

  /** Every link's peer connection, for the tests' getStats. */
  peers() {
    return [...this.links.entries()].map(([participant, link]) => ({ participant, role: this.roles.get(participant), pc: link.pc }));
  }
}
