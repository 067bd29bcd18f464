// The device's pre-call test on the clinician's list: when it ran and how it went, so a
// problem is known before the consult starts. The list gives it as `test_call`.

import { el, formatTime, t } from "./common.js";

export function testCallLine(appointment) {
  const test = appointment.test_call;
  if (!test) return null;
  let result;
  if (test.outcome === "good") result = t("clinician.testcall_good");
  else if (test.outcome === "poor") result = t("clinician.testcall_poor");
  else {
    result = ["camera", "microphone", "connection"]
      .filter((part) => test[part] === "failed")
      .map((part) => t(`clinician.problem_${part}`))
      .join(", ");
  }
  return el("span", {
    class: `testcall ${test.outcome === "failed" ? "bad" : "ok"}`,
    "data-testcall": test.outcome,
    text: t("clinician.testcall", { time: formatTime(test.at), result }),
  });
}
