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

  function fmt(v, percent) {
    if (v === null || v === undefined) return "–";
    return percent ? (100 * v).toFixed(1) + " %" : v.toFixed(3);
  }

  function loadPanel(panel) {
    var summary = panel.querySelector(".adapt-summary");
    var table = panel.querySelector(".adapt-table");
    fetch(panel.dataset.url + "/status", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        var gain = s.estimated_gain;
        summary.textContent = s.decisions + " decisions so far. Active: " +
          (s.active_version ? "site model v" + s.active_version : "the base engine") +
          (s.shadow_version ? "; in shadow: v" + s.shadow_version : "") +
          (gain ? "; estimated gain: ROC-AUC " + (gain.auc >= 0 ? "+" : "") + gain.auc.toFixed(3) : "");
        var newest = s.models[0];
        var body = table.querySelector("tbody");
        body.textContent = "";
        if (!newest) return;
        var m = newest.metrics;
        var rows = [["base engine", m.base]];
        if (m.active) rows.push(["active (v" + m.against + ")", m.active]);
        rows.push(["v" + newest.version + " (" + newest.status + ")", m.candidate]);
        rows.forEach(function (row) {
          var tr = document.createElement("tr");
          var cells = [row[0], fmt(row[1].auc), fmt(row[1].agreement, true),
                       fmt(row[1].identity_fpr, true), fmt(row[1].span_f1)];
          cells.forEach(function (c, i) {
            var td = document.createElement(i === 0 ? "th" : "td");
            td.textContent = c;
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
        table.hidden = false;
      })
      .catch(function () { summary.textContent = "Learning status unavailable."; });
    panel.querySelectorAll(".adapt-action").forEach(function (button) {
      button.addEventListener("click", function () {
        var status = panel.querySelector(".adapt-status");
        status.textContent = "Working…";
        post(panel.dataset.url + "/" + button.dataset.action, panel.dataset.csrf)
          .then(function () { status.textContent = "Done."; loadPanel(panel); })
          .catch(function (e) { status.textContent = e.message; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.adapt-marks").forEach(setUpMarks);
    document.querySelectorAll(".adapt-panel").forEach(loadPanel);
  });
})();
