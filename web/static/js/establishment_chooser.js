// The desk's establishment chooser: staff who serve several establishments act in one at a
// time. Choosing asks the server (which refuses one not served), then reloads the desk so
// that everything on it is read again for the establishment chosen.

import { api, clearError, el, showError } from "./common.js";

export async function setupEstablishmentChooser() {
  const form = document.getElementById("establishment-chooser");
  if (!form) return;
  const data = await api("GET", "/api/me/establishments");
  if (data.establishments.length < 2) return;
  const select = form.establishment_id;
  select.replaceChildren(
    ...data.establishments.map((e) =>
      el("option", { value: e.id, selected: e.id === data.current, text: `${e.name} (${e.code})` }),
    ),
  );
  form.hidden = false;
  const error = document.getElementById("establishment-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    try {
      await api("POST", "/api/me/establishment", { establishment_id: select.value });
      window.location.reload();
    } catch (failure) {
      showError(error, failure);
    }
  });
}
