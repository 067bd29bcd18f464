// The front page: links to each face, and the language switch.

import { setupLanguageSwitch } from "./common.js";

setupLanguageSwitch(() => false);
document.body.dataset.ready = "true";
