  // staticsrv live reload, part 3 of 3 (see live.js): the build overlay,
  // the events, and how this page joins the browser's one stream.

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
