/* Rostra comment counts for article lists: one request for every count on the page.
 *
 *   <a href="/2026/11/budget" data-rostra-count>Budget vote</a>
 *   <span data-rostra-count data-url="https://news.example/2026/11/budget"></span>
 *   <script src="https://HOST/count.js" data-site="SLUG" async></script>
 *
 * An element's URL is its data-url, else its href; its text becomes "12 comments" in the
 * page's language (data-lang on the script, else <html lang>). Links keep their own text when
 * they carry data-rostra-count="append": the count is added after it.
 */
(function () {
  "use strict";
  var FORMS = "__ROSTRA_COUNTS__";
  var script = document.currentScript;
  if (!script) return;
  var host = new URL(script.src, location.href).origin;
  var site = script.getAttribute("data-site");
  var lang = script.getAttribute("data-lang") || document.documentElement.lang || "en";
  var forms = FORMS[lang] || FORMS[lang.split("-")[0]] || FORMS.en;
  var plural = new Intl.PluralRules(lang);

  function label(n) {
    var text = n === 0 && forms.zero ? forms.zero : forms[plural.select(n)] || forms.other;
    // Number formatting takes tens of milliseconds to set up in a fresh page (time the comment
    // widget on the same page would wait for); below 1,000 there is nothing to group, and the
    // digits are the plain ones of every language table shipped.
    return text.replace("{n}", n < 1000 ? String(n) : n.toLocaleString(lang));
  }

  function run() {
    var els = Array.prototype.slice.call(document.querySelectorAll("[data-rostra-count]"));
    var byUrl = {};
    els.forEach(function (el) {
      var raw = el.getAttribute("data-url") || el.getAttribute("href");
      if (!raw) return;
      var url = new URL(raw, location.href).href.split("#")[0];
      (byUrl[url] = byUrl[url] || []).push(el);
    });
    var urls = Object.keys(byUrl);
    for (var i = 0; i < urls.length; i += 100) fetchCounts(urls.slice(i, i + 100), byUrl);
  }

  function fetchCounts(urls, byUrl) {
    var query = urls.map(function (u) { return "url=" + encodeURIComponent(u); }).join("&");
    fetch(host + "/api/v1/sites/" + encodeURIComponent(site) + "/counts?" + query,
      { mode: "cors", credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (counts) {
        urls.forEach(function (url) {
          var n = +counts[url] || 0;
          byUrl[url].forEach(function (el) {
            if (el.getAttribute("data-rostra-count") === "append") {
              var span = el.querySelector(".rostra-count") || el.appendChild(document.createElement("span"));
              span.className = "rostra-count";
              span.textContent = " (" + label(n) + ")";
            } else {
              el.textContent = label(n);
            }
            el.setAttribute("data-count", String(n));
          });
        });
      }, function () { /* counts are decoration: leave the page as it is */ });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
})();
