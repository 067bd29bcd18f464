// One WebRTC link to the other side of a consult, and the call controls both faces share.
//
// The clinician always offers and the device answers (docs/signalling.md). A device uses
// `iceTransportPolicy: "relay"` whenever the room gave it a TURN server or says the
// establishment is relay-only: the server's candidate filter alone cannot stop a direct path
// (the device would still answer the other side's checks from a peer-reflexive address).

export function rtcConfiguration(iceServers, { device, relayOnly = false }) {
  const hasTurn = (iceServers || []).some((server) =>
    [].concat(server.urls || server.url || []).some((url) => /^turns?:/.test(url)),
  );
  return {
    iceServers: iceServers || [],
    iceTransportPolicy: device && (hasTurn || relayOnly) ? "relay" : "all",
    bundlePolicy: "max-bundle",
  };
}

export class PeerLink {
  constructor(signal, remote, configuration, stream, { onTrack, onState } = {}) {
    this.signal = signal;
    this.remote = remote;
    this.stream = stream;
    this.pending = [];
    this.pc = new RTCPeerConnection(configuration);
    this.videoSender = null;
    for (const track of stream.getTracks()) {
      const sender = this.pc.addTrack(track, stream);
      if (track.kind === "video") this.videoSender = sender;
    }
    this.pc.addEventListener("icecandidate", (event) => {
      const c = event.candidate;
      this.signal.send({
        type: "candidate",
        to: this.remote,
        candidate: c
          ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
          : { candidate: "", sdpMid: null, sdpMLineIndex: null },
      });
    });
    this.pc.addEventListener("track", (event) => {
      if (onTrack) onTrack(event.streams[0] || new MediaStream([event.track]));
    });
    this.pc.addEventListener("connectionstatechange", () => {
      if (onState) onState(this.pc.connectionState);
    });
  }

  async offer({ iceRestart = false } = {}) {
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    this.signal.send({ type: "offer", to: this.remote, sdp: this.pc.localDescription.sdp, ice_restart: iceRestart });
  }

  async handle(message) {
    if (message.type === "offer") {
      await this.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await this.flush();
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.signal.send({ type: "answer", to: this.remote, sdp: this.pc.localDescription.sdp });
    } else if (message.type === "answer") {
      await this.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      await this.flush();
    } else if (message.type === "candidate") {
      const c = message.candidate || {};
      if (!c.candidate) return;
      if (!this.pc.remoteDescription) this.pending.push(c);
      else await this.pc.addIceCandidate(c).catch(() => {});
    }
  }

  async flush() {
    const waiting = this.pending.splice(0);
    for (const c of waiting) await this.pc.addIceCandidate(c).catch(() => {});
  }

  close() {
    this.pc.close();
  }
}

/**
 * Loss, round trip and bitrate from getStats(): `sample()` each second for the page's own
 * indicators, `report()` every few samples for the other side and the audit log.
 *
 * A report covers the time since the previous report. (The pages used to report their very
 * first sample, which has no interval before it, so every report a short consult wrote to the
 * log said 0 kbit/s; a report is now sent only once it has an interval to measure.)
 */
export class QualityMeter {
  constructor(pc) {
    this.pc = pc;
    this.last = null;
    this.mark = null;
    this.latest = null;
  }

  async sample() {
    const report = await this.pc.getStats();
    let received = 0;
    let lost = 0;
    let bytes = 0;
    let rtt = 0;
    let jitter = 0;
    let width = 0;
    let height = 0;
    let fps = 0;
    let framesDecoded = 0;
    let audioPackets = 0;
    let localCandidate = null;
    report.forEach((stat) => {
      if (stat.type === "inbound-rtp") {
        received += stat.packetsReceived || 0;
        lost += Math.max(0, stat.packetsLost || 0);
        bytes += stat.bytesReceived || 0;
        jitter = Math.max(jitter, (stat.jitter || 0) * 1000);
        if (stat.kind === "video") {
          width = stat.frameWidth || width;
          height = stat.frameHeight || height;
          fps = stat.framesPerSecond || fps;
          framesDecoded = stat.framesDecoded || 0;
        } else if (stat.kind === "audio") {
          audioPackets = stat.packetsReceived || 0;
        }
      } else if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") {
        rtt = (stat.currentRoundTripTime || 0) * 1000;
        localCandidate = stat.localCandidateId;
      }
    });
    const local = localCandidate ? report.get(localCandidate) : null;
    const now = performance.now();
    const previous = this.last;
    this.last = { now, received, lost, bytes };
    if (!this.mark) this.mark = this.last;
    const q = {
      rtt_ms: Math.round(rtt),
      jitter_ms: Math.round(jitter),
      ...rates(previous, this.last),
      bytes_received: bytes,
      // Nothing came in since the last sample: the other side, or the link, has gone quiet.
      stalled: Boolean(previous) && bytes === previous.bytes,
      measured: Boolean(previous),
      width: Math.round(width),
      height: Math.round(height),
      fps: Math.round(fps),
      frames_decoded: framesDecoded,
      audio_packets: audioPackets,
      candidate_type: local ? local.candidateType : null,
    };
    this.latest = q;
    return q;
  }

  /** The `quality` message over the time since the last one; null until there is such a time. */
  report() {
    const q = this.latest;
    if (!q || !this.mark || this.last === this.mark) return null;
    const window = rates(this.mark, this.last);
    this.mark = this.last;
    return {
      type: "quality",
      rtt_ms: q.rtt_ms,
      loss_pct: Math.min(100, window.loss_pct),
      jitter_ms: q.jitter_ms,
      bitrate_kbps: window.bitrate_kbps,
      width: q.width,
      height: q.height,
      fps: q.fps,
    };
  }
}

function rates(from, to) {
  if (!from || to.now <= from.now) return { loss_pct: 0, bitrate_kbps: 0 };
  const dReceived = to.received - from.received;
  const dLost = Math.max(0, to.lost - from.lost);
  const total = dReceived + dLost;
  const seconds = (to.now - from.now) / 1000;
  return {
    loss_pct: total > 0 ? Math.round((1000 * dLost) / total) / 10 : 0,
    bitrate_kbps: Math.max(0, Math.round(((to.bytes - from.bytes) * 8) / 1000 / seconds)),
  };
}

/**
 * The fallback ladder's measure (docs/signalling.md, "The fallback ladder"): the mode the call
 * is in has failed when, for `BAD_FOR_S` samples in a row, more than 10% of packets were lost
 * or less came in than the mode needs (150 kbit/s for video; for sound only, next to nothing).
 * Only counted while the page can tell: the link is up, media has flowed, and the other side
 * has not simply dropped (that is recovery's business, not the ladder's).
 */
export const LADDER = { BAD_FOR_S: 10, LOSS_PCT: 10, VIDEO_KBPS: 150, AUDIO_KBPS: 6 };

export class Ladder {
  constructor() {
    this.bad = 0;
    this.restarted = false;
  }

  reset() {
    this.bad = 0;
  }

  /** A cause ("high_loss", "low_bitrate") when `mode` has now failed; otherwise null. */
  step(q, mode, measuring) {
    if (!measuring || !q.measured || mode === "call_back") {
      this.bad = 0;
      return null;
    }
    let cause = null;
    if (q.loss_pct > LADDER.LOSS_PCT) cause = "high_loss";
    else if (q.bitrate_kbps < (mode === "video" ? LADDER.VIDEO_KBPS : LADDER.AUDIO_KBPS)) cause = "low_bitrate";
    this.bad = cause ? this.bad + 1 : 0;
    if (this.bad < LADDER.BAD_FOR_S) return null;
    this.bad = 0;
    return cause;
  }
}

/** Sends video, or not, on a link: sound only stops the camera's track going out at all. */
export async function sendVideo(link, stream, on) {
  if (!link || !link.videoSender) return;
  const track = on ? stream.getVideoTracks()[0] || null : null;
  if (link.videoSender.track !== track) await link.videoSender.replaceTrack(track);
}

/**
 * Mute, camera off and sound only: the same buttons on both faces. Sound only is a change of
 * the call's mode for both sides: `chooseMode` asks the server, and the page shows it when the
 * server's `mode` arrives (`showMode`).
 */
export function setupControls(stream, chooseMode, t) {
  const mute = document.getElementById("toggle-mute");
  const camera = document.getElementById("toggle-camera");
  const audioOnly = document.getElementById("toggle-audio-only");
  mute.onclick = () => {
    const on = mute.getAttribute("aria-pressed") !== "true";
    for (const track of stream.getAudioTracks()) track.enabled = !on;
    press(mute, on, t("consult.unmute"), t("consult.mute"));
  };
  camera.onclick = () => {
    const on = camera.getAttribute("aria-pressed") !== "true";
    for (const track of stream.getVideoTracks()) track.enabled = !on;
    press(camera, on, t("consult.camera_on"), t("consult.camera_off"));
  };
  audioOnly.onclick = () => {
    const on = audioOnly.getAttribute("aria-pressed") !== "true";
    chooseMode(on ? "audio" : "video");
  };
}

function press(button, on, onText, offText) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.textContent = on ? onText : offText;
}

/** The call's mode on the page: the other side's video shown or not, the button's state. */
export function showMode(mode, { videoRequired = false } = {}, t) {
  const audioOnly = document.getElementById("toggle-audio-only");
  const sound = mode === "audio";
  document.getElementById("remote-video").hidden = mode !== "video";
  audioOnly.hidden = videoRequired || mode === "call_back";
  press(audioOnly, sound, t("consult.video_back"), t("consult.audio_only"));
}
