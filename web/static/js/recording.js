// Recording in the call (docs/signalling.md, "Recording"), shared by the clinician's page and the
// device's. The server holds the room's recording state (off, asking, on) and tells every member
// each change (`recording`), and the room snapshot carries it, so a page that comes back shows it.
// While it is on, each page offers its own media to the server's recorder on a second connection
// (send-only, every candidate in the offer: the recorder does not trickle) and drops it when off.

const GATHER_MS = 5000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** This page's media to the recorder, while the room records; its share of `upstream` (upstream.js) if given. */
export class RecorderLink {
  constructor(signal, configuration, upstream = null) {
    this.signal = signal;
    this.configuration = configuration;
    this.upstream = upstream;
    this.pc = null;
  }

  async open(stream) {
    this.close();
    if (!stream || !stream.getTracks().length) return;
    const pc = new RTCPeerConnection(this.configuration);
    this.pc = pc;
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    if (this.upstream) await this.upstream.set("recorder", "recorder", pc);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (this.pc !== pc) return;
    this.signal.send({ type: "recorder_offer", sdp: pc.localDescription.sdp });
  }

  async answer(sdp) {
    if (this.pc && this.pc.signalingState === "have-local-offer") {
      await this.pc.setRemoteDescription({ type: "answer", sdp });
    }
  }

  close() {
    if (this.pc) {
      this.pc.close();
      if (this.upstream) this.upstream.remove("recorder", this.pc);
    }
    this.pc = null;
  }
}

/** The words for a recording that went off, by the server's `reason`. */
export const OFF_WORDS = {
  declined: "recording.off_declined",
  withdrawn: "recording.off_withdrawn",
  stopped: "recording.off_stopped",
  failed: "recording.off_failed",
  left: "recording.off_left",
  ended: "recording.off_stopped",
};
