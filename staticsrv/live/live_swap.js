  // staticsrv live reload, part 2 of 3 (the server joins live.js,
  // live_swap.js and live_start.js into the one /__staticsrv__/live.js):
  // stylesheets and images swapped in place.

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

