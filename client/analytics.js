/* blog-analytics client: counts page views over one WebSocket. No cookies, no storage.
 *   <script src="/analytics.js" data-endpoint="wss://..." data-article-id="hello-world"></script>
 * A classic script (ES2020, no dependencies) that defines one global, BlogAnalytics:
 *   init(options), view({articleId, articleTitle}), onCounts(callback), stats(articleIds).
 * As an ES module: `import "./analytics.js"; const analytics = globalThis.BlogAnalytics;`
 * For the 1.7 KB min+gzip budget: doc/loc aliases, loose ==, `a && f()` statements, -~n (n + 1 from undefined).
 */
(() => {
  "use strict";
  if (globalThis.BlogAnalytics) return; // included twice: count once

  const PREFIX = "[blog-analytics]";
  const QUEUE_MAX = 50; // messages kept while disconnected; the oldest are dropped first
  const RETRIES = 3; // resends of a message answered "unavailable" or left unanswered by a close
  const doc = document;
  const loc = location;
  const script = doc.currentScript || doc.querySelector("script[data-endpoint]");
  const options = {}; // from init(); they win over the script tag's data-* attributes
  const queue = []; // {body, done?, tries?} waiting to be sent, oldest first
  const listeners = [];
  const said = {};
  let ws, timer, inflight, started, lastPath;
  let failures = 0;
  let firstView = true;

  // Logs a message once per page load, with the fixed prefix.
  const say = (text) => said[text] || console.info(PREFIX, (said[text] = text));

  // Wraps a function so that nothing it throws reaches the page.
  const guard = (fn) => (arg) => {
    try {
      return fn(arg);
    } catch (e) {
      say("error: " + e);
    }
  };

  // A setting by camelCased name: init() option, else the script's data-* attribute. The
  // names read here are the allow-list: endpoint, articleId, articleTitle, articleSig,
  // allowLocalhost, respectDnt, auto, allowAutomation (for tests that drive a browser).
  const setting = (name) => options[name] ?? script?.dataset[name];

  // A boolean setting: absent -> fallback, "false" -> false, anything else (even "") -> true.
  const flag = (name, fallback) => {
    const value = setting(name);
    return value == null ? fallback : value + "" != "false";
  };

  // The content of <meta name="blog-analytics:<name>">, read afresh on every view.
  const meta = (name) => doc.querySelector(`meta[name="blog-analytics:${name}"]`)?.content;

  // Why this page must not be counted, or "" to count it.
  const skipReason = () => {
    if (!setting("endpoint")) return "not counted: no data-endpoint";
    if (/^(localhost|127\.[\d.]+|\[::1\]|)$/.test(loc.hostname) && !flag("allowLocalhost", false))
      return "not counted: localhost";
    if (flag("respectDnt", true) && (navigator.doNotTrack == "1" || navigator.globalPrivacyControl))
      return "not counted: Do-Not-Track/GPC";
    // Driven by a program: WebDriver (Selenium, Playwright, Puppeteer), headless Chrome, PhantomJS.
    if (
      !flag("allowAutomation") &&
      (navigator.webdriver || /Headless|PhantomJS/.test(navigator.userAgent) || globalThis.callPhantom)
    )
      return "not counted: automated";
    return "";
  };

  // True while the page is prerendered and not yet shown to anyone.
  const prerendering = () => doc.prerendering || doc.visibilityState == "prerender";

  // True when this page load is a reload (Navigation Timing Level 2).
  const reloaded = () => performance.getEntriesByType("navigation")[0]?.type == "reload";

  // document.referrer as a URL when it is http(s), else false (a set referrer is absolute).
  const referrer = () => /^https?:/.test(doc.referrer) && new URL(doc.referrer);

  // 128 random bits in hex: this view's id, so the server counts it once however often it is sent.
  const newViewId = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => (b | 256).toString(16).slice(1)).join("");

  // The views message for this location; reload and referrer belong to the first view only.
  const viewMessage = (given) => {
    const body = {
      message: "views",
      currentPage: loc.pathname,
      refreshed: firstView && reloaded(),
      viewId: newViewId(),
    };
    const articleId = given.articleId || setting("articleId") || meta("article-id");
    const title = given.articleTitle || setting("articleTitle") || meta("article-title");
    const ref = firstView && referrer();
    if (articleId) body.articleId = articleId;
    // Invisible format characters (bidi controls, ZWJ, soft hyphens) would get the view refused.
    if (articleId && title) body.articleTitle = title.replace(/\p{Cf}/gu, "");
    // The blog's signature of id and title, when it signs posts (JSON.stringify drops undefined).
    if (articleId) body.articleSig = given.articleSig || setting("articleSig") || meta("article-sig");
    // Only the origin: a referrer's path can carry personal data, and the server keeps no more.
    if (ref && ref.origin != loc.origin) body.referrer = ref.origin;
    else if (ref) lastPath = ref.pathname;
    if (lastPath) body.previousPage = lastPath;
    firstView = false;
    lastPath = loc.pathname;
    return body;
  };

  // Runs fn after an exponential backoff with full jitter: up to 1 s, 2 s, 4 s ... 30 s.
  const retryLater = (fn) =>
    timer ||
    (timer = setTimeout(
      () => {
        timer = 0;
        guard(fn)();
      },
      Math.random() * Math.min(30000, 1000 * 2 ** failures++),
    ));

  // Opens the WebSocket unless it is open, opening, or the page is prerendering.
  const connect = () => {
    if (ws || prerendering()) return;
    ws = new WebSocket(setting("endpoint"));
    ws.onopen = guard(pump);
    ws.onmessage = guard(receive);
    ws.onclose = guard(closed);
  };

  // Puts the unanswered message back first, to go again after a backoff (up to RETRIES times).
  // A view keeps its viewId, so a copy that was counted already is not counted again.
  const resend = () => {
    const item = inflight;
    inflight = null;
    if (item && (item.tries = -~item.tries) > RETRIES) {
      say(`gave up after ${RETRIES} resends`);
      item.done?.(null);
    } else if (item) queue.unshift(item);
    retryLater(pump);
  };

  // After a close, resends the message whose reply never came; reconnects when something waits.
  const closed = () => {
    ws = null;
    inflight ? resend() : queue.length && retryLater(pump);
  };

  // Queues a message, dropping the oldest beyond QUEUE_MAX, and sends when it can.
  const enqueue = (item) => {
    if (queue.push(item) > QUEUE_MAX) queue.shift().done?.(null);
    pump();
  };

  // Sends the next message once the socket is open, no reply is awaited (replies carry no id,
  // so one message at a time is what ties an "unavailable" error to its message) and no
  // backoff is running.
  function pump() {
    if (timer) return;
    if (ws?.readyState != 1) return queue.length && connect();
    if (inflight || !queue.length) return;
    inflight = queue.shift();
    ws.send(JSON.stringify(inflight.body));
  }

  // Forgets the answered message and sends the next one.
  const next = () => {
    inflight = null;
    pump();
  };

  // Handles a reply: resends on "unavailable", logs other errors (never resent: rate_limited,
  // invalid_event ...), else shows the counts.
  function receive(event) {
    const reply = JSON.parse(event.data);
    const error = reply.error;
    const item = inflight;
    if (error == "unavailable") return resend();
    failures = 0;
    if (error) say(`server error: ${error} ${reply.detail || ""}`);
    item?.done?.(error ? null : reply);
    next();
    if (error) return;
    show(reply);
    listeners.forEach((fn) => fn(reply)); // last: a throwing callback cannot stall the queue
  }

  // Writes each count's totalViews into the elements whose data-views-for is its id or page.
  function show(reply) {
    if (doc.readyState == "loading") return addEventListener("DOMContentLoaded", () => guard(show)(reply));
    const counts = [reply, ...(reply.articles || []), ...(reply.pages || [])];
    doc.querySelectorAll("[data-views-for]").forEach((el) => {
      for (const c of counts) if ((c.articleId ?? c.page) == el.dataset.viewsFor) el.textContent = c.totalViews;
    });
  }

  // Counts a view of the current location, unless this page is not counted.
  const view = (given) => {
    const reason = skipReason();
    if (reason) return say(reason);
    if (prerendering()) say("prerender: waiting");
    enqueue({ body: viewMessage(given || {}) });
  };

  // Counts a single-page-app navigation when the path changed (not with data-auto="false").
  const navigated = () => loc.pathname != lastPath && flag("auto", true) && view();

  // Makes history[name] count the navigation after doing its own work.
  const hook = (name) => {
    const original = history[name];
    history[name] = (...args) => {
      const result = original.apply(history, args);
      guard(navigated)();
      return result;
    };
  };

  // Starts once: watches navigations, counts the first view; connects when shown.
  const init = (given) => {
    Object.assign(options, given);
    if (started) return;
    started = true;
    hook("pushState");
    hook("replaceState");
    addEventListener("popstate", guard(navigated));
    doc.addEventListener("visibilitychange", guard(pump)); // also fires when a prerender is shown
    if (flag("auto", true)) view();
  };

  // Asks for counts; resolves with the stats reply, or null when off or on error.
  const stats = (articleIds) =>
    new Promise((resolve) => {
      const body = { message: "stats" };
      if (articleIds) body.articleIds = articleIds;
      if (skipReason()) return resolve(null);
      enqueue({ body, done: resolve });
    }).catch(() => null);

  globalThis.BlogAnalytics = {
    init: guard(init),
    view: guard(view),
    onCounts: (fn) => void listeners.push(fn),
    stats,
  };
  if (setting("endpoint")) guard(init)(); // a script tag with data-endpoint starts at once
})();
