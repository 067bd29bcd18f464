// What the clinician checks before anything clinical is said: the patient's photo on file and
// date of birth, beside their name and number. The API gives them only to the consult's own
// clinician (and a healthcare manager); for anyone else `identity_details` is "withheld".

import { el, serverNow, t } from "./common.js";

// Appointment id -> a promise of the photo's object URL: fetched once per page, however often
// the waiting list is drawn again (the API answers it with no-store).
const photos = new Map();

function photoUrl(appointmentId) {
  if (!photos.has(appointmentId)) {
    const path = `/api/appointments/${encodeURIComponent(appointmentId)}/patient/photo`;
    photos.set(
      appointmentId,
      fetch(path, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.blob() : null))
        .then((blob) => (blob ? URL.createObjectURL(blob) : null))
        .catch(() => null),
    );
  }
  return photos.get(appointmentId);
}

function born(iso) {
  const [year, month, day] = iso.split("-").map(Number);
  const today = new Date(serverNow());
  let age = today.getFullYear() - year;
  if (today.getMonth() + 1 < month || (today.getMonth() + 1 === month && today.getDate() < day)) age -= 1;
  return t("identity.born", { date: `${day} ${t(`date.month_${month}`)} ${year}`, age });
}

/** The identity block for one appointment's patient, or null if there is nothing to show. */
export function identityBlock(appointmentId, patient) {
  if (!patient || patient.identity_details !== "shown") return null;
  let photo = el("p", { class: "hint", text: t("identity.no_photo") });
  if (patient.photo) {
    photo = el("img", { class: "photo", alt: t("identity.photo_of", { name: patient.display_name }) });
    const image = photo;
    photoUrl(appointmentId).then((url) => {
      if (url) image.src = url;
    });
  }
  return el(
    "div",
    { class: "identity", "data-identity": appointmentId },
    photo,
    el(
      "div",
      {},
      el("p", { class: "hint", text: t("identity.check") }),
      el("p", { text: `${patient.display_name} (${patient.prison_number})` }),
      el("p", { "data-born": "", text: patient.date_of_birth ? born(patient.date_of_birth) : t("identity.no_dob") }),
    ),
  );
}
