// The device's service worker (served at /device/sw.js, scope /device/): keeps the programmes
// screen working with the link down. It caches only what is the same for everyone and holds
// nothing clinical: the page (its words are in it), our scripts and stylesheet, the icon, and
// the questionnaires' definitions. Nothing else goes through the cache: an answer, a score, a
// name or a key is never stored here. Answers wait in the page's sealed queue (offline_queue.js).

const CACHE = "tc-device-v1";
const SHELL = [
  "/device/programmes",
  "/static/js/programmes.js",
  "/static/js/common.js",
  "/static/js/offline_queue.js",
  "/static/css/throughcare.css",
  "/static/img/icon.svg",
];
// A dead link can hang rather than fail: after this long, the cached copy answers.
const PATIENCE_MS = 4000;

function cacheable(url) {
  if (url.origin !== self.location.origin) return false;
  if (SHELL.includes(url.pathname)) return true;
  if (url.pathname.startsWith("/static/")) return true;
  return url.pathname === "/api/questionnaires" || /^\/api\/questionnaires\/[a-z0-9]+$/.test(url.pathname);
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
      if (response.ok && response.status === 200) await cache.put(key, response.clone());
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
