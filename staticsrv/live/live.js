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
      var el = mainScroller();
      var saved = { url: location.href, at: Date.now(), x: window.scrollX, y: window.scrollY };
      if (el) {
        saved.el = selectorOf(el);
        saved.ex = el.scrollLeft;
        saved.ey = el.scrollTop;
      }
      window.sessionStorage.setItem(SCROLL_KEY, JSON.stringify(saved));
    } catch (e) {
      // No storage (disabled, full): reload at the top.
    }
    location.reload();
  }

  // After a live reload of this same URL: back to where the page was.  The
  // key goes at once, so no storage is left and a later visit starts at the
  // top; a reload the user made (F5) within the same second does not count.
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
      }
    };
    if (document.readyState === "complete") {
      apply();
    } else {
      window.addEventListener("load", apply, { once: true });
    }
  })();

  // ---- stylesheets and images, swapped in place ----

  var token = function () {
    return Date.now().toString(36);
  };
  var busted = {}; // image path -> the query token it was last swapped in with

  function bust(href, value) {
    var url = new URL(href, location.href);
    url.searchParams.set("__staticsrv", value);
    return url.href;
  }

  // The same-origin path an URL names, if it is one of the changed ones.
  function named(href, base, wanted) {
    try {
      var url = new URL(href, base);
      return url.origin === location.origin && wanted[decode(url.pathname)] ? decode(url.pathname) : null;
    } catch (e) {
      return null;
    }
  }

  // A CSS value with each url() of a changed image given its new query.
  function rewriteValue(value, base, wanted) {
    var hit = false;
    var out = value.replace(/url\(\s*(["']?)(.*?)\1\s*\)/g, function (all, quote, href) {
      var path = named(href, base, wanted);
      if (!path) {
        return all;
      }
      hit = true;
      return 'url("' + bust(new URL(href, base).href, busted[path]) + '")';
    });
    return hit ? out : null;
  }

  function rewriteStyle(style, base, wanted) {
    var hits = 0;
    for (var i = 0; i < style.length; i++) {
      var name = style[i];
      var value = style.getPropertyValue(name);
      if (value.indexOf("url(") >= 0) {
        var fresh = rewriteValue(value, base, wanted);
        if (fresh !== null) {
          style.setProperty(name, fresh, style.getPropertyPriority(name));
          hits++;
        }
      }
    }
    return hits;
  }

  function rewriteRules(sheet, wanted) {
    var rules;
    try {
      rules = sheet.cssRules; // another origin's sheet cannot be read
    } catch (e) {
      return 0;
    }
    var base = sheet.href || location.href;
    var hits = 0;
    for (var i = 0; rules && i < rules.length; i++) {
      var rule = rules[i];
      if (rule.styleSheet) {
        hits += rewriteRules(rule.styleSheet, wanted); // @import
      } else {
        if (rule.style) {
          hits += rewriteStyle(rule.style, base, wanted);
        }
        if (rule.cssRules) {
          hits += rewriteRules(rule, wanted); // @media, @supports, nesting
        }
      }
    }
    return hits;
  }

  // One srcset with its changed candidates given their new query (HTML
  // Standard §4.8.4.3.10: an URL runs to whitespace, trailing commas end a
  // candidate, descriptors run to a comma outside parentheses).
  function rewriteSrcset(srcset, wanted) {
    var out = "";
    var rest = srcset;
    var hit = false;
    var take = function (re) {
      var found = re.exec(rest)[0];
      rest = rest.slice(found.length);
      return found;
    };
    while (rest) {
      out += take(/^[\s,]*/);
      if (!rest) {
        break;
      }
      var href = take(/^\S+/);
      var commas = /,*$/.exec(href)[0];
      href = href.slice(0, href.length - commas.length);
      var path = named(href, location.href, wanted);
      hit = hit || !!path;
      out += (path ? bust(href, busted[path]) : href) + commas;
      if (!commas) {
        out += take(/^[^,(]*(\([^)]*\)[^,(]*)*/);
      }
    }
    return hit ? out : null;
  }

  function swapImages(paths) {
    var wanted = wantedSet(paths);
    var now = token();
    Object.keys(wanted).forEach(function (p) {
      busted[p] = now;
    });
    var hits = 0;
    var attrs = [
      ["img[src], input[type=image][src]", "src"],
      ["video[poster]", "poster"],
      ['link[rel~="icon" i][href]', "href"]
    ];
    attrs.forEach(function (pair) {
      Array.prototype.forEach.call(document.querySelectorAll(pair[0]), function (el) {
        var path = named(el.getAttribute(pair[1]), location.href, wanted);
        if (path) {
          el.setAttribute(pair[1], bust(el.getAttribute(pair[1]), now));
          hits++;
        }
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("img[srcset], source[srcset]"), function (el) {
      var fresh = rewriteSrcset(el.getAttribute("srcset"), wanted);
      if (fresh !== null) {
        el.setAttribute("srcset", fresh);
        hits++;
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll("image"), function (el) {
      var href = el.getAttribute("href") || el.getAttribute("xlink:href");
      if (href && named(href, location.href, wanted)) {
        el.setAttribute("href", bust(href, now));
        hits++;
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[style]"), function (el) {
      hits += rewriteStyle(el.style, location.href, wanted);
    });
    Array.prototype.forEach.call(document.styleSheets, function (sheet) {
      hits += rewriteRules(sheet, wanted);
    });
    return hits;
  }

  function refresh(link) {
    var url = new URL(link.href, location.href);
    url.searchParams.set("__staticsrv", token());
    var fresh = link.cloneNode(false);
    fresh.href = url.href;
    // Drop the old sheet only once the new one is in: no unstyled flash.
    var done = function () {
      if (link.parentNode) {
        link.parentNode.removeChild(link);
      }
      // The new sheet names the images swapped before by their plain URL,
      // which this document still holds the old version of.
      if (fresh.sheet && Object.keys(busted).length) {
        rewriteRules(fresh.sheet, busted);
      }
    };
    fresh.addEventListener("load", done);
    fresh.addEventListener("error", done);
    link.parentNode.insertBefore(fresh, link.nextSibling);
  }

  function swapStylesheets(paths) {
    var wanted = wantedSet(paths);
    var links = Array.prototype.slice.call(document.querySelectorAll('link[rel~="stylesheet" i][href]'));
    var matching = links.filter(function (link) {
      return named(link.href, location.href, wanted);
    });
    // A changed sheet that no <link> names may be @imported: refresh them all.
    (matching.length ? matching : links).forEach(refresh);
  }

  // ---- the build overlay ----

  function hideOverlay() {
    var box = document.getElementById(OVERLAY);
    if (box) {
      box.parentNode.removeChild(box);
    }
  }

  function element(tag, css, text) {
    var el = document.createElement(tag);
    // The page's own CSS must not restyle (or hide) the overlay.
    el.style.cssText = "all:initial;box-sizing:border-box;font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#eee;" + css;
    if (text) {
      el.textContent = text; // escaped: the output is text, never markup
    }
    return el;
  }

  function showOverlay(build) {
    if (!document.body) {
      document.addEventListener("DOMContentLoaded", function () {
        showOverlay(build);
      });
      return;
    }
    hideOverlay();
    var box = element("div", "position:fixed;inset:0;z-index:2147483647;overflow:auto;padding:24px;background:rgba(20,20,24,.94);display:block");
    box.id = OVERLAY;
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-label", "Build failed");
    var status = build.status === null || build.status === undefined ? "" : " (exit " + build.status + ")";
    var head = element("div", "display:block;color:#ff6b6b;font-weight:bold;margin-bottom:12px;padding-right:48px", "Build failed" + status + ": " + build.command);
    var close = element("button", "position:absolute;top:16px;right:20px;cursor:pointer;font-size:22px;padding:0 8px;background:none;border:1px solid #777;border-radius:4px", "\u00d7");
    close.setAttribute("aria-label", "Close");
    close.addEventListener("click", hideOverlay);
    var lines = String(build.output || "").split("\n");
    var pre = element("pre", "display:block;white-space:pre-wrap;word-break:break-word;margin:0", lines.slice(-200).join("\n"));
    var foot = element("div", "display:block;color:#999;margin-top:12px", "The page reloads when the next build succeeds.");
    box.appendChild(head);
    box.appendChild(close);
    box.appendChild(pre);
    box.appendChild(foot);
    document.body.appendChild(box);
  }

  function onBuild(build) {
    if (framed()) {
      return;
    }
    if (build.state === "failed") {
      failed = true;
      showOverlay(build);
    } else if (build.state === "ok" && failed) {
      failed = false;
      hideOverlay();
      reload();
    }
  }

  // ---- the events ----

  function handle(m) {
    var data = m.data ? JSON.parse(m.data) : {};
    if (m.kind === "hello") {
      if (state.run !== null && state.run !== data.id) {
        // Another server run: files may have changed while it was down.
        // The reloaded page hears this run's id first, so this happens once.
        reload();
        return;
      }
      state.run = data.id;
    } else if (m.kind === "reload") {
      reload();
    } else if (m.kind === "css" || m.kind === "img") {
      var paths = data.paths || [];
      var sheets = paths.filter(function (p) {
        return !isImage(p);
      });
      if (sheets.length || m.kind === "css" && !paths.length) {
        swapStylesheets(sheets);
      }
      if (sheets.length < paths.length) {
        swapImages(paths.filter(isImage));
      }
    } else if (m.kind === "build" && m.data !== lastBuild) {
      lastBuild = m.data; // a state told again (to a tab that joined) shows once
      onBuild(data);
    }
  }

  function viaWorker() {
    var worker = new window.SharedWorker(BASE + "live.js", { name: "staticsrv-live" });
    var heard = false;
    worker.port.onmessage = function (e) {
      heard = true;
      handle(e.data);
    };
    worker.onerror = function () {
      // The worker could not start (a Content-Security-Policy without
      // worker-src 'self', say): share the stream between tabs instead.
      if (!heard) {
        worker.port.close();
        viaLeader();
      }
    };
    worker.port.start();
    window.addEventListener("pagehide", function () {
      worker.port.postMessage("bye");
    });
    window.addEventListener("pageshow", function (e) {
      if (e.persisted) {
        worker.port.postMessage("hi");
      }
    });
    state.via = "worker";
  }

  function viaLeader() {
    if (typeof window.BroadcastChannel !== "function" || !navigator.locks) {
      // Neither (an insecure origin has no Web Locks): a stream of its own.
      state.via = "own";
      var own = new Memory();
      open(
        function (m) {
          own.keep(m);
          handle(m);
        },
        function () {
          return own.id; // a reconnect resumes where the stream broke off
        }
      );
      return;
    }
    var channel = new window.BroadcastChannel(CHANNEL);
    var memory = new Memory();
    var leading = false;
    state.via = "follower";
    channel.onmessage = function (e) {
      var m = e.data;
      if (m.kind === "hi") {
        if (leading) {
          memory.replay(function (r) {
            channel.postMessage(r);
          });
        }
        return;
      }
      memory.keep(m);
      handle(m);
    };
    // The lock is held until this page goes away; then the next tab in the
    // queue gets it and opens the stream where this one left off.
    navigator.locks.request(CHANNEL, function () {
      if (leaving) {
        return; // about to go: the lock passes on at once
      }
      leading = true;
      state.via = "leader";
      open(
        function (m) {
          memory.keep(m);
          channel.postMessage(m); // to every other tab (not to this one)
          handle(m);
        },
        function () {
          return memory.id;
        }
      );
      return new Promise(function () {});
    });
    channel.postMessage({ kind: "hi" });
  }

  if (typeof window.SharedWorker === "function") {
    try {
      viaWorker();
    } catch (e) {
      viaLeader();
    }
  } else {
    viaLeader();
  }
})(self);
