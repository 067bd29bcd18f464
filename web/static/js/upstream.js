// What a page sends upstream, shared out between its links (issue 18): the device's upstream
// stays at or under UPSTREAM_KBPS whatever its links are (the health worker, up to two third
// parties, the recorder) and whatever the camera gives, because every sender of every link is
// capped (`RTCRtpSender.setParameters`) and the caps of all links together never add up to
// more than the budget. The shares are worked out again whenever a link comes or goes.
//
// - Every link gets its sound (AUDIO_KBPS), first.
// - The video left is shared by weight, each kind of link up to its most: the health worker's
//   link (`main`) the most, the recorder its share, a third party (`third`) at half the
//   resolution. A link from a third party's page to the patient or the health worker is `party`.
// - A third party whose share would be under THIRD_PARTY_MIN_VIDEO_KBPS gets sound only.
// - HEADROOM_KBPS is left out of the caps for what they do not cover: RTP headers and RTCP,
//   retransmissions, and an encoder overshooting for a moment (a link was measured at 30%
//   over its cap for a few seconds on a loaded machine, so the caps add up to 1,200).
// No imports: tests/web/test_upstream_budget.py runs `allocate` under Node as well.

export const UPSTREAM_KBPS = 1500;
export const HEADROOM_KBPS = 300;
export const AUDIO_KBPS = 32;
export const THIRD_PARTY_MIN_VIDEO_KBPS = 100;
export const SHARES = {
  main: { weight: 5, most: 700, scale: 1 },
  recorder: { weight: 2.5, most: 350, scale: 1 },
  party: { weight: 1.5, most: 250, scale: 1 },
  third: { weight: 1.5, most: 250, scale: 2 },
};

/** Video for the links that send it: shared by weight, each up to its most (water-filling). */
function share(kinds, sending, budget) {
  const out = kinds.map(() => 0);
  const open = new Set(kinds.map((_, i) => i).filter((i) => sending[i]));
  let left = budget;
  for (;;) {
    const weight = [...open].reduce((sum, i) => sum + SHARES[kinds[i]].weight, 0);
    if (!open.size || weight <= 0) return out;
    const full = [...open].find((i) => (left * SHARES[kinds[i]].weight) / weight >= SHARES[kinds[i]].most);
    if (full === undefined) {
      for (const i of open) out[i] = Math.floor((left * SHARES[kinds[i]].weight) / weight);
      return out;
    }
    out[full] = SHARES[kinds[full]].most;
    left -= out[full];
    open.delete(full);
  }
}

/**
 * The caps for links of these kinds ("main", "recorder", "party", "third"; anything else is
 * taken as "third"), in order: `{ audioKbps, videoKbps, scaleDown, video }` each, `video`
 * false for sound only. Their sum is never more than UPSTREAM_KBPS - HEADROOM_KBPS.
 */
export function allocate(kinds) {
  const known = kinds.map((kind) => (kind in SHARES ? kind : "third"));
  if (!known.length) return [];
  const budget = UPSTREAM_KBPS - HEADROOM_KBPS;
  const audio = Math.min(AUDIO_KBPS, Math.floor(budget / known.length));
  const sending = known.map(() => true);
  let video = share(known, sending, budget - audio * known.length);
  // Too little for a useful picture: the last third party goes to sound only, and again.
  for (;;) {
    const poor = known.findLastIndex((kind, i) => kind === "third" && sending[i] && video[i] < THIRD_PARTY_MIN_VIDEO_KBPS);
    if (poor < 0) break;
    sending[poor] = false;
    video = share(known, sending, budget - audio * known.length);
  }
  return known.map((kind, i) => ({
    audioKbps: audio,
    videoKbps: video[i],
    scaleDown: SHARES[kind].scale,
    video: sending[i] && video[i] > 0,
  }));
}

/** Puts one link's caps on its senders (those without a track too: a camera put back later keeps them). */
export async function capSenders(pc, cap) {
  for (const transceiver of pc.getTransceivers()) {
    const sender = transceiver.sender;
    const kind = (sender.track && sender.track.kind) || (transceiver.receiver.track && transceiver.receiver.track.kind);
    if (transceiver.stopped || transceiver.direction === "recvonly" || transceiver.direction === "inactive") continue;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) continue; // no encoding to cap yet: capped again once negotiated
    for (const encoding of params.encodings) {
      if (kind === "video") {
        encoding.maxBitrate = Math.max(1, cap.videoKbps) * 1000;
        encoding.scaleResolutionDownBy = cap.scaleDown;
        encoding.active = cap.video;
      } else {
        encoding.maxBitrate = cap.audioKbps * 1000;
      }
    }
    await sender.setParameters(params);
  }
}

/** A page's links, each with its kind: the budget shared out again when one comes or goes. */
export class Upstream {
  constructor() {
    this.links = new Map();
    this.queue = Promise.resolve();
    this.watched = new WeakSet();
  }

  /** Adds (or replaces) the link `key` of this kind; resolves once every link is capped again. */
  set(key, kind, pc) {
    this.links.set(key, { kind, pc });
    if (!this.watched.has(pc)) {
      // Negotiated (again): senders a renegotiation added, or without encodings before, get capped.
      this.watched.add(pc);
      pc.addEventListener("signalingstatechange", () => {
        if (pc.signalingState === "stable" && this.links.has(key)) this.apply();
      });
    }
    return this.apply();
  }

  remove(key, pc = null) {
    const link = this.links.get(key);
    if (!link || (pc && link.pc !== pc)) return this.queue;
    this.links.delete(key);
    return this.apply();
  }

  /** The caps now, by key (for the browser tests and support staff at the console). */
  caps() {
    const entries = [...this.links.entries()];
    const caps = allocate(entries.map(([, link]) => link.kind));
    return new Map(entries.map(([key, link], i) => [key, { kind: link.kind, ...caps[i] }]));
  }

  apply() {
    // One at a time: a sender's parameters are read and set in one transaction.
    this.queue = this.queue.then(() => this.applyNow()).catch(() => {});
    return this.queue;
  }

  async applyNow() {
    for (const [key, link] of this.links) if (link.pc.signalingState === "closed") this.links.delete(key);
    const caps = this.caps();
    for (const [key, link] of this.links) await capSenders(link.pc, caps.get(key)).catch(() => {});
  }
}
