// The prisoner's Money screen: balances and transactions in plain words. Reading one's own
// money works during a lockdown too.

import { api, el, t } from "./common.js";
import { entryItem, pounds } from "./money_words.js";

async function load() {
  const list = document.getElementById("money-entries");
  const mine = await api("GET", "/api/kiosk/money");
  document.getElementById("money-spends").textContent = pounds(mine.balances.spends);
  document.getElementById("money-private").textContent = pounds(mine.balances.private);
  list.replaceChildren(
    ...(mine.entries.length ? mine.entries.map(entryItem) : [el("li", { text: t("money.none") })]),
  );
}

export const money = { load };
