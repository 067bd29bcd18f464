// Money in words, shared by the device's Money screen and the finance desk: integer pence
// on the wire, "£12.50" and "Wages paid into your spends" on the page.

import { el, formatDate, t } from "./common.js";

/** 1250 -> "£12.50"; never through a float's rounding (pence are whole numbers). */
export function pounds(pence) {
  const sign = pence < 0 ? "−" : "";
  const abs = Math.abs(pence);
  const whole = Math.floor(abs / 100).toLocaleString("en-GB");
  return `${sign}£${whole}.${String(abs % 100).padStart(2, "0")}`;
}

export function accountName(account) {
  return t(`money.account_${account}`);
}

/** What an entry was, in plain words. */
export function entryWords(e) {
  const account = accountName(e.account);
  if (e.kind === "transfer") {
    return t(e.amount_pence > 0 ? "money.kind_transfer_in" : "money.kind_transfer_out", { account });
  }
  return t(`money.kind_${e.kind}`, { account });
}

export function entryItem(e) {
  const amount = e.amount_pence > 0 ? `+${pounds(e.amount_pence)}` : pounds(e.amount_pence);
  const children = [
    el("p", { class: "card-title" }, el("span", { text: entryWords(e) }), " ", el("strong", { text: amount })),
    el("p", { class: "hint", text: formatDate(e.at) }),
  ];
  if (e.reference) children.push(el("p", { text: e.reference }));
  if (e.reversed) children.push(el("p", { class: "hint", text: t("money.was_reversed") }));
  return el("li", { class: "card", "data-entry": e.id, "data-kind": e.kind }, ...children);
}

export function balancesText(balances) {
  return t("money.balances", {
    spends: pounds(balances.spends),
    private: pounds(balances.private),
  });
}
