/* Rostra moderation workspace: keyboard, in-place decisions, live threshold preview.
 * Every action here also works without this file, as a plain form post. */
(function () {
  "use strict";

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var site = document.body.dataset.site;
  var api = site ? "/api/v1/sites/" + encodeURIComponent(site) + "/moderation" : null;
  var live = document.getElementById("live");

  function announce(text) {
    if (live) { live.textContent = ""; window.setTimeout(function () { live.textContent = text; }, 30); }
  }

  function request(method, url, body) {
    var options = { method: method, credentials: "same-origin",
                    headers: { "Accept": "application/json", "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 401) {  // the session expired: log in again, then come back
        window.location = "/moderate/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  /* -- queue ------------------------------------------------------------------------- */

  function cards() { return Array.prototype.slice.call(document.querySelectorAll(".cards .card")); }
  var index = 0;

  function current() {
    var list = cards();
    if (!list.length) { return null; }
    index = Math.max(0, Math.min(index, list.length - 1));
    return list[index];
  }

  function focusCard(card) {
    cards().forEach(function (c) { c.classList.remove("current"); });
    if (!card) { return; }
    card.classList.add("current");
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function move(delta) {
    var list = cards();
    if (!list.length) { return; }
    index = Math.max(0, Math.min(index + delta, list.length - 1));
    focusCard(list[index]);
  }

  function setStatus(card, text, conflict) {
    var status = card.querySelector(".card-status");
    status.textContent = text;
    status.classList.toggle("conflict", !!conflict);
  }

  function describe(state) {
    var text = state.status;
    if (state.reviewed) { text += " · reviewed"; }
    if (state.featured) { text += " · featured"; }
    return text;
  }

  function setVersion(card, state) {
    card.dataset.version = state.version;
    var input = card.querySelector('input[name="version"]');
    if (input) { input.value = state.version; }
    var box = card.querySelector("input.select");
    if (box) { box.value = card.dataset.id + ":" + state.version; }
    var badge = card.querySelector('[data-role="status"]');
    if (badge) { badge.textContent = describe(state); badge.className = "badge badge-" + state.status; }
  }

  /* Queue counts, refreshed after each decision and every POLL_MS while the tab is visible.
     When the queue on screen grows between two looks, a notice offers to show the new ones
     (the page never moves by itself under the moderator's cursor). */
  var POLL_MS = window.rostraQueuePollMs || 20000;
  var known = null;

  function refreshCounts() {
    if (!api) { return; }
    request("GET", api + "/counts").then(function (result) {
      if (!result.ok) { return; }
      var here = document.querySelector('[aria-current="page"] [data-count]');
      var queue = here ? here.dataset.count : null;
      if (known && queue && result.data[queue] > known[queue]) {
        showArrivals(result.data[queue] - known[queue]);
      }
      known = result.data;
      Object.keys(result.data).forEach(function (name) {
        var el = document.querySelector('[data-count="' + name + '"]');
        if (el) { el.textContent = result.data[name]; }
      });
    });
  }

  var arrived = 0;
  function showArrivals(n) {
    var list = document.querySelector(".cards");
    if (!list) { return; }
    arrived += n;
    var notice = document.getElementById("arrivals");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "arrivals";
      notice.className = "notice";
      notice.setAttribute("role", "status");
      list.parentNode.insertBefore(notice, list);
    }
    notice.textContent = "";
    var link = document.createElement("a");
    link.href = window.location.pathname + window.location.search;
    link.textContent = "Show them";
    notice.appendChild(document.createTextNode(
      arrived + (arrived === 1 ? " new comment" : " new comments") + " in this queue. "));
    notice.appendChild(link);
  }

  function watchQueue() {
    if (!api || !document.querySelector(".cards")) { return; }
    refreshCounts();
    window.setInterval(function () { if (!document.hidden) { refreshCounts(); } }, POLL_MS);
  }

  function decided(card, state, action) {
    setVersion(card, state);
    card.classList.add("done");
    setStatus(card, "Done: " + action + ". Now " + describe(state) + ".");
    announce("Comment " + card.dataset.id + ": " + action);
    var list = cards();
    var position = list.indexOf(card);
    window.setTimeout(function () {
      card.remove();
      updateSelected();
      if (position <= index) { index = Math.max(0, index - (position < index ? 1 : 0)); }
      focusCard(current());
      if (!cards().length) {
        var empty = document.createElement("p");
        empty.className = "empty";
        empty.textContent = "Nothing left on this page.";
        document.querySelector(".cards").appendChild(empty);
      }
    }, 350);
  }

  function conflict(card, problem) {
    var state = problem.current || {};
    if (state.version !== undefined) { setVersion(card, state); }
    setStatus(card, "Another moderator already decided this: it is now " +
      (state.status ? describe(state) : "changed") +
      ". Your decision was not applied; decide again if you still disagree.", true);
    announce("Conflict on comment " + card.dataset.id);
  }

  function reasonOf(card, action) {
    var note = card.querySelector('input[name="note"]');
    var select = card.querySelector('select[name="reason"]');
    var parts = [];
    if ((action === "reject" || action === "spam") && select && select.value) { parts.push(select.value); }
    if (note && note.value.trim()) { parts.push(note.value.trim()); }
    return parts.length ? parts.join(": ") : null;
  }

  function decide(card, action) {
    if (!card || !api || card.classList.contains("done")) { return; }
    setStatus(card, "Saving…");
    request("POST", api + "/comments/" + card.dataset.id + "/decision",
            { action: action, version: Number(card.dataset.version), reason: reasonOf(card, action) })
      .then(function (result) {
        if (result.ok) { decided(card, result.data, action); refreshCounts(); }
        else if (result.status === 409) { conflict(card, result.data); }
        else { setStatus(card, (result.data && result.data.detail) || "That did not work (" + result.status + ").", true); }
      })
      .catch(function () { setStatus(card, "No connection to the server; nothing was changed.", true); });
  }

  function selected() {
    return cards().filter(function (c) {
      var box = c.querySelector("input.select");
      return box && box.checked;
    });
  }

  function updateSelected() {
    var counter = document.querySelector("[data-selected]");
    if (counter) { counter.textContent = selected().length; }
  }

  function bulk(action) {
    var chosen = selected();
    if (!chosen.length || !api) { announce("Select comments first (x)"); return; }
    var select = document.getElementById("bulk-reason");
    var reason = (action === "reject" || action === "spam") && select ? select.value : null;
    request("POST", api + "/decisions", {
      action: action, reason: reason,
      comments: chosen.map(function (c) { return { id: Number(c.dataset.id), version: Number(c.dataset.version) }; })
    }).then(function (result) {
      if (!result.ok) { announce((result.data && result.data.detail) || "Bulk decision failed"); return; }
      result.data.results.forEach(function (item) {
        var card = document.getElementById("c" + item.id);
        if (!card) { return; }
        var box = card.querySelector("input.select");
        if (box) { box.checked = false; }
        if (item.ok) { decided(card, item.comment, action); }
        else if (item.problem && item.problem.status === 409) { conflict(card, item.problem); }
        else { setStatus(card, (item.problem && item.problem.detail) || "Not changed", true); }
      });
      updateSelected();
      refreshCounts();
    });
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName) &&
      !(target.tagName === "INPUT" && target.type === "checkbox"));
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var card = current();
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": decide(card, "approve"); break;
      case "r": decide(card, "reject"); break;
      case "s": decide(card, "spam"); break;
      case "A": bulk("approve"); break;
      case "R": bulk("reject"); break;
      case "x":
        if (card) {
          var box = card.querySelector("input.select");
          if (box) { box.checked = !box.checked; updateSelected(); }
        }
        break;
      case "o":
        if (card) { var link = card.querySelector(".author-name"); if (link) { window.location = link.href; } }
        break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  }

  function toggleHelp() {
    var help = document.getElementById("keys");
    var button = document.querySelector(".help-toggle");
    if (!help) { return; }
    help.hidden = !help.hidden;
    if (button) { button.setAttribute("aria-expanded", String(!help.hidden)); }
  }

  function setUpQueue() {
    var list = document.querySelector(".cards");
    if (!list) { return; }
    document.addEventListener("keydown", onKey);
    list.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList.contains("decide")) { return; }
      var action = event.submitter && event.submitter.value;
      if (!action) { return; }
      event.preventDefault();
      var card = form.closest(".card");
      index = cards().indexOf(card);
      decide(card, action);
    });
    list.addEventListener("change", function (event) {
      if (event.target.classList.contains("select")) { updateSelected(); }
    });
    list.addEventListener("focusin", function (event) {
      var card = event.target.closest(".card");
      if (card) { index = cards().indexOf(card); cards().forEach(function (c) { c.classList.toggle("current", c === card); }); }
    });
    var bulkForm = document.getElementById("bulk");
    if (bulkForm) {
      bulkForm.addEventListener("submit", function (event) {
        var action = event.submitter && event.submitter.value;
        if (!action) { return; }
        event.preventDefault();
        bulk(action);
      });
    }
    var help = document.querySelector(".help-toggle");
    if (help) { help.addEventListener("click", toggleHelp); }
    if (cards().length) { cards()[0].classList.add("current"); }
  }

  /* -- settings: live threshold preview ------------------------------------------------ */

  function setUpPreview() {
    var form = document.querySelector("form.thresholds[data-preview]");
    var output = document.getElementById("preview");
    if (!form || !output) { return; }
    var timer = null;
    var sequence = 0;
    function run() {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, key) { if (key !== "csrf_token") { params.append(key, value); } });
      var mine = ++sequence;
      output.textContent = "Counting…";
      request("GET", form.dataset.preview + "?" + params.toString()).then(function (result) {
        if (mine !== sequence) { return; }
        if (!result.ok) { output.textContent = (result.data && result.data.detail) || "Cannot preview these numbers"; return; }
        var d = result.data;
        var text = d.changed + " of " + d.considered + " would change decision";
        d.changes.forEach(function (c) { text += "; " + c.count + " " + c.from + " → " + c.to; });
        output.textContent = text;
      });
    }
    form.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(run, 250); });
    form.addEventListener("change", function () { window.clearTimeout(timer); timer = window.setTimeout(run, 50); });
  }

  function setUpSiteSwitch() {
    var select = document.querySelector("select[data-navigate]");
    if (select) { select.addEventListener("change", function () { window.location = select.value; }); }
  }

  setUpQueue();
  watchQueue();
  setUpPreview();
  setUpSiteSwitch();
})();
