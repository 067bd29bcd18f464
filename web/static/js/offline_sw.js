// The device's service worker (served at /device/sw.js, scope /device/): keeps the programmes,
// programme-session and learning screens working with the link down. It holds nothing clinical:
// the pages (their words are in them), our scripts and stylesheet, the icon, the questionnaires'
// definitions, and what was opened of the non-clinical content: a lesson (its text, with the
// learner's progress taken out) and its approved pictures, sound and PDFs, a course's lesson list,
// its test questions (never their answers: the server does not send them), and a programme's
// sessions with every answer taken out (answers are clinical text). Nothing else goes through
// the cache: an answer, a score, a name or a key is never stored here. What the person does waits
// in the page's sealed queue (offline_queue.js).

const CACHE = "tc-device-v2";
const SHELL = [
  "/device/programmes",
  "/device/programme-work",
  "/device/learning",
  "/static/js/programmes.js",
  "/static/js/programme_work.js",
  "/static/js/learning.js",
  "/static/js/common.js",
  "/static/js/offline_queue.js",
  "/static/js/offline_status.js",
  "/static/css/throughcare.css",
  "/static/img/icon.svg",
];
// A dead link can hang rather than fail: after this long, the cached copy answers.
const PATIENCE_MS = 4000;

const ID = "[A-Za-z0-9-]{1,64}";
const CONTENT = [
  new RegExp(`^/api/campus/lessons/${ID}$`),
  new RegExp(`^/api/campus/files/${ID}$`),
  new RegExp(`^/api/campus/courses/${ID}$`),
  new RegExp(`^/api/campus/courses/${ID}/assessment$`),
  new RegExp(`^/api/me/programmes/${ID}$`),
];

function cacheable(url) {
  if (url.origin !== self.location.origin) return false;
  if (SHELL.includes(url.pathname)) return true;
  if (url.pathname.startsWith("/static/")) return true;
  if (CONTENT.some((pattern) => pattern.test(url.pathname))) return true;
  return url.pathname === "/api/questionnaires" || /^\/api\/questionnaires\/[a-z0-9]+$/.test(url.pathname);
}

/** What may be kept of a response: a lesson without the learner's progress, a programme
 * without its answers; everything else cacheable as it came. */
async function keepable(pathname, response) {
  if (/^\/api\/campus\/lessons\//.test(pathname)) {
    const view = await response.clone().json();
    view.progress = { lesson_id: view.lesson.id, step: 0, completed: false };
    return jsonResponse(view);
  }
  if (/^\/api\/me\/programmes\//.test(pathname)) {
    const view = await response.clone().json();
    // The versions stay (numbers): an edit made offline names the one it changes.
    for (const session of view.session_list) session.answers = {};
    return jsonResponse(view);
  }
  return response.clone();
}

function jsonResponse(body) {
  return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  const key = url.pathname;
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, PATIENCE_MS, null);
  });
  const fresh = fetch(request)
    .then(async (response) => {
      if (response.ok && response.status === 200) await cache.put(key, await keepable(key, response));
      return response;
    })
    .catch(() => null);
  const first = await Promise.race([fresh, late]);
  clearTimeout(timer);
  if (first) return first;
  const cached = await cache.match(key);
  if (cached) return cached;
  const answer = await fresh;
  return answer || Response.error();
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!cacheable(url)) return;
  event.respondWith(networkFirst(request, url));
});
