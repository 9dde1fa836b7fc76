// Per-site learning in the workspace: label corrections and word marks on the comment card,
// and the learning panel of the site settings page (see templates/_adaptation.html).
(function () {
  "use strict";
  if (window.rostraAdaptation) return; // the script may be included once per card
  window.rostraAdaptation = true;

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error((data && (data.detail || data.title)) || r.statusText);
        return data;
      });
    });
  }

  // The comment's own text nodes: the label names that highlight marks add are not part of it.
  function ownTextNodes(element) {
    var nodes = [];
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement.closest(".hl-tag, .visually-hidden")) nodes.push(node);
    }
    return nodes;
  }

  function ownText(element) {
    return ownTextNodes(element).map(function (n) { return n.data; }).join("");
  }

  // Offset in the comment's own text of a boundary point of a selection.
  function offsetOf(element, container, offset) {
    var point = document.createRange();
    point.setStart(container, offset);
    var count = 0;
    var nodes = ownTextNodes(element);
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node === container) return count + offset;
      if (point.comparePoint(node, node.length) > 0) break; // the node ends after the point
      count += node.length;
    }
    return count;
  }

  function offsetsIn(element, range) {
    return [offsetOf(element, range.startContainer, range.startOffset),
            offsetOf(element, range.endContainer, range.endOffset)];
  }

  function setUpMarks(form) {
    var spans = [];
    var card = document.getElementById(form.dataset.card);
    var text = card && card.querySelector(".text");
    var shown = form.querySelector(".adapt-spans");
    var status = form.querySelector(".adapt-status");
    form.querySelector(".adapt-words").hidden = false; // selecting words needs this script
    form.querySelector(".adapt-mark-words").addEventListener("click", function () {
      var sel = window.getSelection();
      if (!text || !sel || sel.rangeCount === 0 || sel.isCollapsed) {
        shown.textContent = "Select words in the comment first.";
        return;
      }
      var range = sel.getRangeAt(0);
      if (!text.contains(range.startContainer) || !text.contains(range.endContainer)) {
        shown.textContent = "Select words inside the comment text.";
        return;
      }
      var span = offsetsIn(text, range);
      if (span[0] >= span[1]) {
        shown.textContent = "Select words of the comment, not only a label.";
        return;
      }
      spans.push(span);
      var whole = ownText(text);
      shown.textContent = "Marked: " + spans.map(function (s) {
        return "“" + whole.slice(s[0], s[1]) + "”";
      }).join(", ");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var labels = Array.prototype.map.call(
        form.querySelectorAll("input[name=label]:checked"), function (i) { return i.value; });
      var none = form.querySelector("input[name=none]").checked;
      var body = { labels: none ? [] : (labels.length ? labels : null),
                   spans: spans.length ? spans : null };
      post(form.dataset.url, form.dataset.csrf, body).then(function () {
        status.textContent = "Saved: the next training will use it.";
      }).catch(function (e) { status.textContent = "Not saved: " + e.message; });
    });
  }

  // The learning panel's forms work as plain posts (the page comes back with the outcome).
  // Here they are sent in the background to the same address, and the panel's state and
  // message are taken from the page that comes back, so both paths show the same thing.
  function setUpPanel(panel) {
    var status = panel.querySelector(".adapt-status");
    panel.addEventListener("submit", function (event) {
      var form = event.target.closest("form.adapt-action");
      if (!form) return;
      event.preventDefault();
      var buttons = panel.querySelectorAll(".adapt-action button");
      buttons.forEach(function (b) { b.disabled = true; });
      status.className = "adapt-status";
      status.textContent = "Working…";
      fetch(form.action, { method: "POST", credentials: "same-origin", body: new FormData(form) })
        .then(function (r) {
          return r.text().then(function (html) {
            var page = new DOMParser().parseFromString(html, "text/html");
            if (!r.ok) {
              var why = page.querySelector("main .alert, main h1");
              throw new Error(why ? why.textContent : r.statusText);
            }
            var fresh = page.getElementById(panel.id);
            if (!fresh) {
              throw new Error(r.url.indexOf("/moderate/login") !== -1
                ? "the session has ended; log in again" : "the page came back without this panel");
            }
            panel.querySelector(".adapt-state").replaceWith(fresh.querySelector(".adapt-state"));
            var told = fresh.querySelector(".adapt-status");
            status.className = told.className;
            status.textContent = told.textContent;
          });
        })
        .catch(function (e) {
          status.className = "adapt-status alert";
          status.textContent = "Not done: " + e.message;
        })
        .then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.adapt-marks").forEach(setUpMarks);
    document.querySelectorAll(".adapt-panel").forEach(setUpPanel);
  });
})();
