// staticsrv live reload: served at /__staticsrv__/live.js and injected into
// HTML pages by `staticsrv --live`.  Same origin, no inline code, so a page
// whose Content-Security-Policy allows 'self' scripts works.
(function () {
  "use strict";
  if (window.__staticsrvLive) {
    return; // the tag is in the page twice: one connection is enough
  }
  // What the page knows: the server run it listens to (null until hello).
  var state = (window.__staticsrvLive = { run: null });

  var EVENTS = "/__staticsrv__/events";
  var MIN_DELAY = 500;
  var MAX_DELAY = 5000;
  var delay = MIN_DELAY;
  var runId = null; // the server run this page last heard from

  function decode(path) {
    try {
      return decodeURIComponent(path);
    } catch (e) {
      return path;
    }
  }

  function refresh(link) {
    var url = new URL(link.href, location.href);
    url.searchParams.set("__staticsrv", Date.now().toString(36));
    var fresh = link.cloneNode(false);
    fresh.href = url.href;
    // Drop the old sheet only once the new one is in: no unstyled flash.
    var done = function () {
      if (link.parentNode) {
        link.parentNode.removeChild(link);
      }
    };
    fresh.addEventListener("load", done);
    fresh.addEventListener("error", done);
    link.parentNode.insertBefore(fresh, link.nextSibling);
  }

  function swapStylesheets(paths) {
    var wanted = {};
    paths.forEach(function (p) {
      wanted[decode(p)] = true;
    });
    var links = Array.prototype.slice.call(
      document.querySelectorAll('link[rel~="stylesheet" i][href]')
    );
    var named = links.filter(function (link) {
      var url = new URL(link.href, location.href);
      return url.origin === location.origin && wanted[decode(url.pathname)];
    });
    // A changed sheet that no <link> names may be @imported: refresh them all.
    (named.length ? named : links).forEach(refresh);
  }

  function connect() {
    var source = new EventSource(EVENTS);
    source.addEventListener("hello", function (e) {
      delay = MIN_DELAY;
      var id = JSON.parse(e.data).id;
      if (runId !== null && runId !== id) {
        // Another server run: files may have changed while it was down.
        // The reloaded page hears this run's id first, so this happens once.
        location.reload();
        return;
      }
      runId = id;
      state.run = id;
    });
    source.addEventListener("reload", function () {
      location.reload();
    });
    source.addEventListener("css", function (e) {
      swapStylesheets(JSON.parse(e.data).paths || []);
    });
    source.onerror = function () {
      // The server is gone or busy: try again, less and less often.
      source.close();
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }

  connect();
})();
