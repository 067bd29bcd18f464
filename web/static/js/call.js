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

/** Loss, round trip and bitrate since the last call, from getStats(). */
export class QualityMeter {
  constructor(pc) {
    this.pc = pc;
    this.last = null;
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
    const dReceived = previous ? received - previous.received : received;
    const dLost = previous ? lost - previous.lost : lost;
    const seconds = previous ? (now - previous.now) / 1000 : 1;
    const total = dReceived + dLost;
    return {
      rtt_ms: Math.round(rtt),
      loss_pct: total > 0 ? Math.round((1000 * dLost) / total) / 10 : 0,
      jitter_ms: Math.round(jitter),
      bitrate_kbps: previous ? Math.max(0, Math.round(((bytes - previous.bytes) * 8) / 1000 / seconds)) : 0,
      bytes_received: bytes,
      // Nothing came in since the last sample: the other side, or the link, has gone quiet.
      stalled: Boolean(previous) && bytes === previous.bytes,
      width: Math.round(width),
      height: Math.round(height),
      fps: Math.round(fps),
      frames_decoded: framesDecoded,
      audio_packets: audioPackets,
      candidate_type: local ? local.candidateType : null,
    };
  }
}

/** Mute, camera off and audio only: the same buttons on both faces. */
export function setupControls(stream, getLink, t) {
  const mute = document.getElementById("toggle-mute");
  const camera = document.getElementById("toggle-camera");
  const audioOnly = document.getElementById("toggle-audio-only");
  const remoteVideo = document.getElementById("remote-video");
  const press = (button, on, onText, offText) => {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? onText : offText;
  };
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
  audioOnly.onclick = async () => {
    // Audio only stops sending video altogether and hides the other side's, to save the link.
    const on = audioOnly.getAttribute("aria-pressed") !== "true";
    remoteVideo.hidden = on;
    press(audioOnly, on, t("consult.video_back"), t("consult.audio_only"));
    const link = getLink();
    if (link && link.videoSender) {
      await link.videoSender.replaceTrack(on ? null : stream.getVideoTracks()[0] || null);
    }
  };
}
