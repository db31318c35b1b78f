/* blog-analytics client: counts page views over one WebSocket and shows live counts. No cookies, no storage.
 *   <script src="/analytics.js" data-endpoint="wss://..." data-article-id="hello-world"></script>
 * A classic script (ES2020, no dependencies) that defines one global, BlogAnalytics:
 *   init(options), view({articleId, articleTitle}), onCounts(callback), stats(articleIds),
 *   watch(articleIds, pages).
 * As an ES module: `import "./analytics.js"; const analytics = globalThis.BlogAnalytics;`
 * For the 1.7 KB min+gzip budget: doc/loc aliases, loose ==, `a && f()` statements, -~n (n + 1 from
 * undefined), undefined fields that JSON.stringify leaves out.
 */
(() => {
  if (globalThis.BlogAnalytics) return; // included twice: count once

  const PREFIX = "[blog-analytics]";
  const QUEUE_MAX = 50; // messages kept while disconnected; the oldest are dropped first
  const RETRIES = 3; // resends of a message answered "unavailable" or left unanswered by a close
  const HIDDEN_MS = 3e5; // a tab hidden this long closes its socket: connection minutes cost money
  const doc = document;
  const loc = location;
  const script = doc.currentScript || doc.querySelector("script[data-endpoint]");
  const options = {}; // from init(); they win over the script tag's data-* attributes
  const queue = []; // [body, done?, tries?] waiting to be sent, oldest first
  const listeners = [];
  const said = {};
  const seen = {}; // the highest totalViews shown per post or page: counts never go backwards
  let ws, timer, inflight, started, lastPath, hideTimer;
  let target; // this page's own post or page ({articleId} or {page}), from the last view's reply
  let follow; // [articleIds, pages] of the last watch()
  let opens = 0;
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
  // allowLocalhost, auto, allowAutomation (tests that drive a browser).
  const setting = (name) => options[name] ?? script?.dataset[name];

  // A boolean setting: absent -> fallback, "false" -> false, anything else (even "") -> true.
  const flag = (name, absent) => (setting(name) ?? absent) + "" != "false";

  // The content of <meta name="blog-analytics:<name>">, read afresh on every view.
  const meta = (name) => doc.querySelector(`meta[name="blog-analytics:${name}"]`)?.content;

  // Why this page must not be counted (logged after "not counted: "), or "" to count it.
  const skipReason = () =>
    !setting("endpoint")
      ? "no data-endpoint"
      : /^(localhost|127\.[\d.]+|\[::1\]|)$/.test(loc.hostname) && !flag("allowLocalhost", "false")
        ? "localhost"
        : (navigator.doNotTrack == "1" || navigator.globalPrivacyControl)
          ? "Do-Not-Track/GPC"
          : // Driven by a program: WebDriver (Selenium, Playwright, Puppeteer) or headless Chrome.
            // Tests that drive a browser opt in with data-allow-automation.
            (navigator.webdriver || /Headless/.test(navigator.userAgent)) &&
              !flag("allowAutomation", "false")
            ? "automated"
            : "";

  // The views message for this location; reload and referrer belong to the first view only.
  const viewMessage = (given) => {
    // document.referrer's origin (a set referrer is absolute; the server ignores one that is not
    // http(s)). Only the origin: a referrer's path can carry personal data, the server keeps no more.
    const ref = firstView && doc.referrer && new URL(doc.referrer).origin;
    const articleId = given.articleId || setting("articleId") || meta("article-id") || undefined;
    const title = given.articleTitle || setting("articleTitle") || meta("article-title");
    const body = {
      message: "views",
      articleId,
      // Invisible format characters (bidi controls, ZWJ, soft hyphens) would get the view refused.
      articleTitle: articleId && title ? title.replace(/\p{Cf}/gu, "") : undefined,
      // The blog's signature of id and title, when it signs posts.
      articleSig: articleId && (given.articleSig || setting("articleSig")),
      currentPage: (lastPath = loc.pathname),
      // A reload counts toward total views only. Navigation Timing Level 1's type (1: reload) is
      // deprecated but in every browser and far shorter than Level 2's entry; where it is gone,
      // a reload counts as unique, nothing breaks.
      refreshed: firstView && performance.navigation?.type == 1,
      referrer: (ref != loc.origin && ref) || undefined, // the blog's own is no referrer
      // 128 random bits, so the server counts this view once however often it is sent.
      viewId: crypto.getRandomValues(new BigUint64Array(2)).join("-"),
    };
    firstView = false;
    return body;
  };

  // Runs pump after an exponential backoff with full jitter: up to 1 s, 2 s, 4 s ... 32 s.
  const retryLater = () =>
    timer ||
    (timer = setTimeout(
      () => {
        timer = 0;
        guard(pump)();
      },
      Math.random() * 1e3 * 2 ** Math.min(failures++, 5),
    ));

  // Puts the unanswered message back first, to go again after a backoff (up to RETRIES times).
  // A view keeps its viewId, so a copy that was counted already is not counted again.
  const resend = () => {
    const item = inflight;
    inflight = null;
    if (item && (item[2] = -~item[2]) > RETRIES) {
      say("gave up");
      item[1]?.(null);
    } else if (item) queue.unshift(item);
    (queue.length || following()) && retryLater();
  };

  // True while the page is visible and has counts to follow: its own, or a watch list.
  const following = () => !doc.hidden && (target || follow);

  // The watch message: the watch list and this page's own post or page, so that a new socket
  // follows them without counting a view; `reading` (a reopened socket's) counts it in readingNow.
  const watchBody = ([articleIds, pages] = follow || [[], []], reading) => ({
    message: "watch",
    articleIds: articleIds.concat(target?.articleId || []),
    pages: pages.concat(target?.page || []),
    reading,
  });

  // Queues a message, dropping the oldest beyond QUEUE_MAX, and sends when it can.
  const enqueue = (item) => {
    if (queue.push(item) > QUEUE_MAX) queue.shift()[1]?.(null);
    pump();
  };

  // Sends the next message once the socket is open, no reply is awaited (replies carry no id,
  // so one message at a time is what ties an "unavailable" error to its message) and no
  // backoff is running. Connects when a message waits or the page follows counts (not while
  // prerendering). A socket opened again follows the page's counts first.
  function pump() {
    if (timer) return;
    if (ws?.readyState != 1) {
      if (ws || doc.prerendering || !(queue.length || following())) return;
      ws = new WebSocket(setting("endpoint"));
      ws.onopen = guard(() => {
        opens++ && (target || follow) && queue.unshift([watchBody(follow, target)]);
        pump();
      });
      ws.onmessage = guard(receive);
      // After a close, resends the message whose reply never came; reconnects when something
      // waits or, while the page is visible, to keep following its counts.
      ws.onclose = guard(() => {
        ws = null;
        resend();
      });
      return;
    }
    if (inflight || !queue.length) return;
    inflight = queue.shift();
    ws.send(JSON.stringify(inflight[0]));
  }

  // Handles a frame. A push ("counts") is no reply: it never answers the message in flight, and
  // one older than the counts shown is dropped. A reply: resends on "unavailable", logs other
  // errors (never resent: rate_limited, invalid_event ...), else shows the counts.
  function receive(event) {
    const reply = JSON.parse(event.data);
    const error = reply.error;
    if (reply.message == "counts") return reply.totalViews < seen[reply.articleId ?? reply.page] || emit(reply);
    if (error == "unavailable") return resend();
    failures = 0;
    if (error) say("server error: " + (reply.detail || error));
    inflight?.[1]?.(error ? null : reply);
    inflight = null;
    pump();
    if (error) return;
    // A views reply without readingNow comes from a stack whose live counts are off: nothing
    // would be pushed, so the page does not keep a socket to follow its own counts.
    if (reply.readingNow >= 0) target = { articleId: reply.articleId, page: reply.page };
    emit(reply);
  }

  // Writes value into the elements whose data-<name>-for is key.
  const fill = (name, key, value) =>
    value != null && doc.querySelectorAll(`[data-${name}-for="${key}"]`).forEach((el) => (el.textContent = value));

  // Writes each count into the elements whose data-views-for (totalViews) or data-reading-now-for
  // (readingNow) is its id or page, unless a higher totalViews is shown already; then hands the
  // counts to the onCounts callbacks. Waits for the DOM.
  const emit = guard((reply) => {
    if (doc.readyState == "loading") return setTimeout(emit, 50, reply);
    for (const c of [reply, ...(reply.articles || []), ...(reply.pages || [])]) {
      const key = c.articleId ?? c.page;
      if (c.totalViews < seen[key]) continue;
      seen[key] = c.totalViews;
      fill("views", key, c.totalViews);
      fill("reading-now", key, c.readingNow);
    }
    listeners.forEach((fn) => fn(reply));
  });

  // Counts a view of the current location, unless this page is not counted.
  const view = guard((given) => {
    const reason = skipReason();
    if (reason) return say("not counted: " + reason);
    enqueue([viewMessage(given || {})]);
  });

  // Counts a single-page-app navigation when the path changed (not with data-auto="false").
  const navigated = guard(() => loc.pathname != lastPath && flag("auto") && view());

  // Hidden: closes the socket after HIDDEN_MS. Shown (a prerender too): reconnects and sends.
  const visibility = guard(() => {
    clearTimeout(hideTimer);
    if (doc.hidden) hideTimer = setTimeout(() => ws?.close(), HIDDEN_MS);
    pump();
  });

  // Starts once: watches navigations and visibility, counts the first view.
  const init = guard((given) => {
    Object.assign(options, given);
    if (started) return;
    started = true;
    // history.pushState counts the navigation after doing its own work. Only pushState:
    // replaceState rewrites the current entry (a redirect, a query update), no new page.
    const pushState = history.pushState;
    history.pushState = (...args) => {
      pushState.apply(history, args);
      navigated();
    };
    addEventListener("popstate", navigated);
    doc.addEventListener("visibilitychange", visibility);
    visibility(); // a tab opened in the background starts hidden
    if (flag("auto")) view();
  });

  // Sends make()'s message, which has a reply; resolves with it, or null when off or on error.
  const ask = (make) =>
    new Promise((resolve) => (skipReason() ? resolve(null) : enqueue([make(), resolve]))).catch(() => null);

  globalThis.BlogAnalytics = {
    init,
    view,
    onCounts: (fn) => void listeners.push(fn),
    // Counts of these posts (else the top posts) and every page.
    stats: (articleIds) => ask(() => ({ message: "stats", articleIds })),
    // Follows these posts' and pages' live counts too, replacing the last list; counts nothing.
    watch: (articleIds, pages) => ask(() => watchBody((follow = [articleIds || [], pages || []]))),
  };
  if (setting("endpoint")) init(); // a script tag with data-endpoint starts at once
})();
