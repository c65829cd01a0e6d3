// staticsrv live reload: served at /__staticsrv__/live.js and injected into
// HTML pages by `staticsrv --live`.  Same origin, no inline code, so a page
// whose Content-Security-Policy allows 'self' scripts works.
//
// One event stream per browser, not per tab: a browser opens at most 6
// HTTP/1.1 connections per host, so a stream per tab would hang the 7th.
// This same file runs as a SharedWorker that holds the one stream for all
// same-origin tabs and frames; where SharedWorker is missing, the tabs elect
// a leader with Web Locks that holds it and passes the events on over a
// BroadcastChannel.  A new holder asks the server for what it missed
// (?since=, the id of the last event seen), so a closing tab hands over
// without a lost event.
//
// Part 1 of 3: the server joins live.js, live_swap.js and live_start.js,
// in that order, into the one script it serves (one function around all
// three); this part holds the stream, the shared worker and the reload.
(function (global) {
  "use strict";
  var BASE = "/__staticsrv__/";
  var EVENTS = BASE + "events";
  var KINDS = ["hello", "reload", "css", "img", "build"];
  var MIN_DELAY = 100;
  var MAX_DELAY = 1000; // a restarted server is found within a second
  var SCROLL_KEY = "__staticsrv_scroll";
  var OVERLAY = "__staticsrv_overlay";
  var CHANNEL = "staticsrv-live";

  // The stream itself, reconnecting with back-off; emit gets {kind, data, id}.
  function open(emit, since) {
    var delay = MIN_DELAY;
    (function connect() {
      var last = since();
      var source = new EventSource(EVENTS + (last ? "?since=" + encodeURIComponent(last) : ""));
      KINDS.forEach(function (kind) {
        source.addEventListener(kind, function (e) {
          if (kind === "hello") {
            delay = MIN_DELAY;
          }
          emit({ kind: kind, data: e.data, id: e.lastEventId });
        });
      });
      source.onerror = function () {
        // The server is gone or busy: try again, less and less often.
        source.close();
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, MAX_DELAY);
      };
    })();
  }

  // What a holder of the stream keeps for the tabs that join later.
  function Memory() {
    this.id = "";
    this.hello = null;
    this.build = null;
  }
  Memory.prototype.keep = function (m) {
    // Only forward: a state told again (hello, build) carries an older id,
    // and resuming from it would replay events every tab has handled.
    var was = this.id.split(".");
    var now = (m.id || "").split(".");
    if (m.id && (was[0] !== now[0] || Number(now[1]) > Number(was[1]))) {
      this.id = m.id;
    }
    if (m.kind === "hello") {
      this.hello = m;
    } else if (m.kind === "build") {
      this.build = m;
    }
  };
  // Told again to a tab that joins, with the position reached since: a tab
  // that takes over the stream later resumes from there, not from when
  // the hello or the build state first came.
  Memory.prototype.replay = function (send) {
    var id = this.id;
    [this.hello, this.build].forEach(function (m) {
      if (m) {
        send({ kind: m.kind, data: m.data, id: id });
      }
    });
  };

  if (typeof global.document === "undefined") {
    // The shared worker: one stream, every connected page's port.
    var ports = [];
    var memory = new Memory();
    var started = false;
    global.onconnect = function (e) {
      var port = e.ports[0];
      var join = function () {
        if (ports.indexOf(port) < 0) {
          ports.push(port);
        }
        memory.replay(function (m) {
          port.postMessage(m);
        });
      };
      port.onmessage = function (m) {
        if (m.data === "bye") {
          ports = ports.filter(function (p) {
            return p !== port;
          });
        } else if (m.data === "hi") {
          join(); // back from the back/forward cache
        }
      };
      join();
      if (!started) {
        started = true;
        open(
          function (m) {
            memory.keep(m);
            ports.forEach(function (p) {
              p.postMessage(m);
            });
          },
          function () {
            return memory.id;
          }
        );
      }
    };
    return;
  }

  var window = global;
  var document = window.document;
  var location = window.location;
  if (window.__staticsrvLive) {
    return; // the tag is in the page twice: one connection is enough
  }
  // What the page knows: the server run it listens to (null until hello),
  // and how it listens ("worker", "leader", "follower" or "own").
  var state = (window.__staticsrvLive = { run: null, via: null });
  var failed = false; // this page has heard of a failed build
  var lastBuild = null; // the data of the last build event handled
  var leaving = false; // reloading: this page takes over no stream

  // A frame whose parent page runs live reload leaves reloads to it (the
  // parent's reload reloads the frame) and shows no overlay of its own.
  // Asked when a reload comes, not at start: a frame may start before its
  // parent's script has run (a tag at the end of the parent's body).
  function framed() {
    try {
      return window.parent !== window && !!window.parent.__staticsrvLive;
    } catch (e) {
      return false; // another origin
    }
  }

  function decode(path) {
    try {
      return decodeURIComponent(path);
    } catch (e) {
      return path;
    }
  }

  function wantedSet(paths) {
    var wanted = {};
    paths.forEach(function (p) {
      wanted[decode(p)] = true;
    });
    return wanted;
  }

  function isImage(path) {
    return /\.(png|jpe?g|gif|webp|avif|svg|ico|bmp|apng)$/i.test(path);
  }

  // ---- reload, keeping the scroll position ----

  // The largest element scrolled away from its start: an app whose <main>
  // scrolls instead of the document.
  function mainScroller() {
    var best = null;
    var area = 0;
    var all = document.body ? document.body.getElementsByTagName("*") : [];
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.scrollTop || el.scrollLeft) {
        var size = el.clientWidth * el.clientHeight;
        if (size > area) {
          best = el;
          area = size;
        }
      }
    }
    return best;
  }

  function selectorOf(el) {
    var parts = [];
    for (; el && el.nodeType === 1 && el !== document.documentElement; el = el.parentElement) {
      if (el.id) {
        parts.unshift("#" + CSS.escape(el.id));
        break;
      }
      var n = 1;
      for (var s = el.previousElementSibling; s; s = s.previousElementSibling) {
        n++;
      }
      parts.unshift(el.localName + ":nth-child(" + n + ")");
    }
    return parts.join(" > ");
  }

  function reload() {
    if (framed()) {
      return;
    }
    leaving = true;
    try {
      // Reloaded again before the last position was back (two batches of
      // one build): that position, not the top the page is still at.
      var saved = restoring;
      if (!saved) {
        var el = mainScroller();
        saved = { url: location.href, x: window.scrollX, y: window.scrollY };
        if (el) {
          saved.el = selectorOf(el);
          saved.ex = el.scrollLeft;
          saved.ey = el.scrollTop;
        }
      }
      saved.at = Date.now();
      window.sessionStorage.setItem(SCROLL_KEY, JSON.stringify(saved));
    } catch (e) {
      // No storage (disabled, full): reload at the top.
    }
    location.reload();
  }

  // After a live reload of this same URL: back to where the page was.  The
  // key goes at once, so no storage is left and a later visit or reload
  // starts afresh.
  var restoring = null; // the position being brought back, until it is
  (function restoreScroll() {
    var saved = null;
    try {
      saved = window.sessionStorage.getItem(SCROLL_KEY);
      if (saved === null) {
        return;
      }
      window.sessionStorage.removeItem(SCROLL_KEY);
      saved = JSON.parse(saved);
    } catch (e) {
      return;
    }
    var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    if (!saved || saved.url !== location.href || Date.now() - saved.at > 30000) {
      return;
    }
    if (nav && nav.type !== "reload") {
      return; // a link or a typed address to the same URL: a new visit
    }
    var tries = 0;
    restoring = saved;
    var apply = function () {
      window.scrollTo(saved.x, saved.y);
      var el = saved.el ? document.querySelector(saved.el) : null;
      if (el) {
        el.scrollLeft = saved.ex;
        el.scrollTop = saved.ey;
      }
      // Content laid out after load (fonts, scripts) may still be growing.
      var short = Math.abs(window.scrollY - saved.y) > 1 || (el && Math.abs(el.scrollTop - saved.ey) > 1);
      if (short && ++tries < 20) {
        window.requestAnimationFrame(apply);
      } else {
        restoring = null;
      }
    };
    if (document.readyState === "complete") {
      apply();
    } else {
      window.addEventListener("load", apply, { once: true });
    }
  })();

