// The waiting room of the consult the clinician has open: who waits, their pre-call check,
// a message to them, and Admit. A waiting patient whose link drops stays listed, marked as
// having lost connection (Admit waits until they are back), rather than vanishing.

import { el, t } from "./common.js";

function checkWords(check) {
  if (!check) return "–";
  if (check.network === "poor") return t("clinician.check_poor");
  if (check.camera !== "ok") return t("clinician.check_audio");
  return t("clinician.check_good");
}

export class WaitingRoom {
  constructor(list, label) {
    this.list = list;
    this.label = label;
    this.members = new Map();
  }

  /** From a room snapshot: the patient if not admitted and still in the room. */
  fromRoom(room) {
    const patient = (room.members || []).find((m) => m.role === "patient");
    const waiting = patient && !patient.admitted && (patient.status === "waiting" || patient.status === "away");
    this.members = new Map(waiting ? [[patient.participant, { ...patient, away: patient.status === "away" }]] : []);
    this.render();
    return waiting ? patient : null;
  }

  arrived(member) {
    this.members.set(member.participant, { ...member, away: false });
    this.render();
  }

  /** Marks a waiting patient away or back; false if that patient is not waiting here. */
  mark(participant, away) {
    const member = this.members.get(participant);
    if (!member) return false;
    member.away = away;
    this.render();
    return true;
  }

  remove(participant) {
    this.members.delete(participant);
    this.render();
  }

  clear() {
    this.members = new Map();
    this.render();
  }

  first() {
    return [...this.members.values()].find((m) => !m.away) || null;
  }

  render() {
    const waiting = [...this.members.values()];
    if (!waiting.length) {
      this.list.replaceChildren(el("li", { text: t("clinician.waiting_none") }));
      return;
    }
    this.list.replaceChildren(
      ...waiting.map((member) => {
        const inputId = `notice-${member.participant}`;
        return el(
          "li",
          { class: "arrived", "data-participant": member.participant },
          el("p", { class: "card-title", text: this.label() }),
          el("p", { text: t("clinician.check_result", { result: checkWords(member.check) }) }),
          member.away ? el("p", { class: "live-state", text: t("clinician.live_patient_away") }) : null,
          el(
            "form",
            { class: "form inline", "data-notice": member.participant },
            el(
              "div",
              { class: "field" },
              el("label", { for: inputId, text: t("clinician.message") }),
              el("input", { id: inputId, name: "text", maxlength: "280" }),
            ),
            el("button", { type: "submit", class: "button secondary", text: t("clinician.message_send") }),
          ),
          member.away
            ? null
            : el("button", { type: "button", class: "button primary", "data-admit": member.participant, text: t("clinician.admit") }),
        );
      }),
    );
  }
}
