// The local /dashboard, live: follows the posts and pages it lists through `watch`
// (ARCHITECTURE.md 3.1.2) and moves their numbers on each `counts` push. It sends
// nothing else, so it never counts a view. Pushes carry all-time totals; a row's
// period figure is the push minus the snapshot the period starts from (its
// data-before-* attributes). Charts follow, throttled, from a fresh copy of the page.
// When the socket cannot open, the page reloads itself as it did before.
(function () {
  "use strict";

  var PREFIX = "[dashboard]";
  var FALLBACK_RELOAD_MS = 30000; // the old meta refresh's period
  var REDRAW_EVERY_MS = 30000; // at most one fresh copy of the charts per this
  var REDRAW_AFTER_MS = 5000; // let the Series consumer record the pushed views first
  var REOPEN_MS = 2000;
  var STALE_MS = 60000; // a fresh copy at least this often: what no push moves (new posts, referrers, refusals)

  var latest = {}; // "post:<id>" / "page:<name>" -> {total, unique}, all-time, highest seen
  var rendered = {}; // the same keys -> {total, unique} as the page was rendered
  var tiles = {}; // "views" / "unique" -> the tile's rendered number
  var lastRedraw = Date.now();
  var redrawTimer = null;
  var socket = null;

  // The watch list the server rendered: {"articleIds": [...], "pages": [...]}, at most 50.
  function watchList() {
    var node = document.getElementById("live-watch");
    return node ? JSON.parse(node.textContent) : { articleIds: [], pages: [] };
  }

  // Every row that states a post's or page's numbers, by target.
  function rows() {
    var found = {};
    document.querySelectorAll("tr[data-before-total]").forEach(function (row) {
      var key = row.dataset.post !== undefined ? "post:" + row.dataset.post : "page:" + row.dataset.page;
      (found[key] = found[key] || []).push(row);
    });
    return found;
  }

  // A whole, non-negative number from a cell or attribute, else null.
  function whole(text) {
    var value = Number(text);
    return Number.isSafeInteger(value) && value >= 0 ? value : null;
  }

  // Reads what the page states now: each row's and tile's rendered numbers.
  function remember() {
    rendered = {};
    var all = rows();
    Object.keys(all).forEach(function (key) {
      var row = all[key][0];
      rendered[key] = {
        total: whole(row.querySelector("td.total").textContent) || 0,
        unique: whole(row.querySelector("td.unique").textContent) || 0,
        beforeTotal: whole(row.dataset.beforeTotal) || 0,
        beforeUnique: whole(row.dataset.beforeUnique) || 0,
      };
    });
    document.querySelectorAll(".tile[data-tile]").forEach(function (tile) {
      tiles[tile.dataset.tile] = whole(tile.querySelector("b").textContent) || 0;
    });
  }

  // The period's figures of a target now: what was rendered, or more if a push says so.
  function shown(key) {
    var base = rendered[key];
    var live = latest[key];
    if (!base) return null;
    if (!live) return { total: base.total, unique: base.unique };
    return {
      total: Math.max(base.total, live.total - base.beforeTotal),
      unique: Math.max(base.unique, live.unique - base.beforeUnique),
    };
  }

  // Writes every watched target's figures and the site tiles into the page.
  function show() {
    var all = rows();
    var added = { views: 0, unique: 0 };
    Object.keys(all).forEach(function (key) {
      var now = shown(key);
      if (!now) return;
      added.views += now.total - rendered[key].total;
      added.unique += now.unique - rendered[key].unique;
      all[key].forEach(function (row) {
        row.querySelector("td.total").textContent = String(now.total);
        row.querySelector("td.unique").textContent = String(now.unique);
      });
    });
    document.querySelectorAll(".tile[data-tile]").forEach(function (tile) {
      var name = tile.dataset.tile;
      if (name in added) tile.querySelector("b").textContent = String(tiles[name] + added[name]);
    });
  }

  // One target's all-time counts from a push or the watch reply; never lowers what is known.
  function learn(counts) {
    var key = typeof counts.articleId === "string" ? "post:" + counts.articleId
      : typeof counts.page === "string" ? "page:" + counts.page : null;
    var total = whole(counts.totalViews);
    var unique = whole(counts.uniqueViews);
    if (key === null || total === null || unique === null) return;
    var known = latest[key] || { total: 0, unique: 0 };
    latest[key] = { total: Math.max(known.total, total), unique: Math.max(known.unique, unique) };
  }

  // A fresh copy of the page, throttled: charts, trends and new rows follow the numbers.
  function scheduleRedraw() {
    if (redrawTimer !== null) return;
    var wait = Math.max(REDRAW_AFTER_MS, lastRedraw + REDRAW_EVERY_MS - Date.now());
    redrawTimer = setTimeout(redraw, wait);
  }

  function redraw() {
    var before = JSON.stringify(watchList());
    fetch(location.href, { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.body.replaceChildren.apply(document.body, Array.from(fresh.body.childNodes));
        remember();
        show();
        if (JSON.stringify(watchList()) !== before) watch();
      })
      .catch(function (error) {
        console.warn(PREFIX, "redraw failed:", String(error));
      })
      .finally(function () {
        lastRedraw = Date.now();
        redrawTimer = null;
      });
  }

  function watch() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(Object.assign({ message: "watch" }, watchList())));
    }
  }

  function fallBack(reason) {
    console.warn(PREFIX, "live counts unavailable (" + reason + "); reloading every 30 s");
    setTimeout(function () { location.reload(); }, FALLBACK_RELOAD_MS);
  }

  function open() {
    var opened = false;
    try {
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
    } catch (error) {
      fallBack(String(error));
      return;
    }
    socket.onopen = function () {
      opened = true;
      watch();
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.message === "counts") {
        learn(message);
      } else if (message.message === "watch" && message.status === "ok") {
        (message.articles || []).concat(message.pages || []).forEach(learn);
      } else if (message.message === "error") {
        // The watch was refused (e.g. a page no rule counts any more): no pushes will come.
        socket.onclose = null;
        socket.close();
        fallBack("watch refused: " + message.error);
        return;
      } else {
        return;
      }
      show();
      scheduleRedraw();
    };
    socket.onclose = function () {
      // Closed after it worked (idle for 10 minutes, or the gateway restarted): follow again.
      if (opened) setTimeout(open, REOPEN_MS);
      else fallBack("the socket did not open");
    };
  }

  remember();
  open();
  setInterval(scheduleRedraw, STALE_MS);
})();
