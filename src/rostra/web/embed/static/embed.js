/* Rostra comment widget: hand-written, no framework, no build step.
 *
 * Snippet:  <div id="rostra-comments"></div>
 *           <script src="https://HOST/embed.js" data-site="SLUG" async></script>
 * Optional data attributes (on the script or the container): data-url (default: the page's
 * canonical URL), data-title (default: document.title), data-sso-token, data-lang,
 * data-sort, data-theme (light|dark), data-login-url. The container's `hidden` attribute hides
 * the widget (a host stylesheet cannot).
 * JS: window.Rostra.setToken(jwt), Rostra.onTokenExpired(fn -> token|Promise), Rostra.reload().
 *
 * Safety: untrusted text only ever goes through textContent; the server's `html` (sanitised
 * with an allow-list when the comment was written) is parsed inert and filtered again here.
 */
(function () {
  "use strict";
  var CSS = "__ROSTRA_CSS__";
  var EN = "__ROSTRA_STRINGS__";
  var FIRST = "__ROSTRA_FIRST__";  // "Loading…" and its failure, in every language
  var script = document.currentScript;
  if (!script) return;
  var HOST = new URL(script.src, location.href).origin;
  var SORTS = ["oldest", "newest", "reacted"];
  var REASONS = ["abuse", "spam", "off_topic", "other"];
  var MAX_NEST = 6;
  var COLORS = ["#8e3b46", "#35618f", "#2f7a5b", "#7a4fa0", "#a25b1c", "#3c6e71", "#6b5b95"];

  function container() {
    return document.getElementById(script.getAttribute("data-container") || "rostra-comments");
  }
  function opt(name) {
    var box = container();
    return (box && box.getAttribute("data-" + name)) || script.getAttribute("data-" + name);
  }

  /* ---- tiny DOM helper: h("tag.class", {attrs}, children...) ---- */
  function h(spec, attrs) {
    var parts = spec.split("."), el = document.createElement(parts[0] || "div");
    if (parts.length > 1) el.className = parts.slice(1).join(" ");
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (var i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }
  function add(el, child) {
    if (child == null || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { add(el, c); });
    else el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }

  /* ---- allow-list re-check of the server's sanitised HTML (defence in depth) ---- */
  var TAGS = { P: 1, BR: 1, EM: 1, STRONG: 1, CODE: 1, PRE: 1, BLOCKQUOTE: 1, UL: 1, OL: 1,
    LI: 1, A: 1 };
  function safeHtml(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html || "";  // a template's content is inert: nothing loads or runs
    clean(tpl.content);
    return document.importNode(tpl.content, true);
  }
  function clean(node) {
    var kids = Array.prototype.slice.call(node.childNodes);
    kids.forEach(function (kid) {
      if (kid.nodeType === 3) return;
      if (kid.nodeType !== 1 || !TAGS[kid.tagName]) {
        if (kid.nodeType === 1) node.replaceChild(document.createTextNode(kid.textContent), kid);
        else node.removeChild(kid);
        return;
      }
      Array.prototype.slice.call(kid.attributes).forEach(function (a) {
        var keep = kid.tagName === "A" && (a.name === "href" || a.name === "title");
        if (keep && a.name === "href" && !/^(https?:|mailto:)/i.test(a.value)) keep = false;
        if (!keep) kid.removeAttribute(a.name);
      });
      if (kid.tagName === "A") {
        kid.setAttribute("rel", "nofollow noopener ugc");
        kid.setAttribute("target", "_blank");
      }
      clean(kid);
    });
  }

  /* ---- client-side preview of the Markdown subset, built with DOM nodes only ---- */
  function preview(src) {
    var frag = document.createDocumentFragment(), lines = src.replace(/\r/g, "").split("\n");
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (/^```/.test(line)) {
        var code = [];
        for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
        i++;
        frag.appendChild(h("pre", null, h("code", { text: code.join("\n") })));
      } else if (/^\s*>/.test(line)) {
        var quote = [];
        for (; i < lines.length && /^\s*>/.test(lines[i]); i++) quote.push(lines[i].replace(/^\s*> ?/, ""));
        var bq = h("blockquote");
        bq.appendChild(preview(quote.join("\n")));
        frag.appendChild(bq);
      } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
        var ordered = /^\s*\d/.test(line), list = h(ordered ? "ol" : "ul");
        for (; i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i]); i++) {
          list.appendChild(inline(h("li"), lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, "")));
        }
        frag.appendChild(list);
      } else if (!line.trim()) {
        i++;
      } else {
        var para = [];
        for (; i < lines.length && lines[i].trim() && !/^(```|\s*>|\s*([-*+]|\d+[.)])\s)/.test(lines[i]); i++) {
          para.push(lines[i]);
        }
        var p = h("p");
        para.forEach(function (l, n) { if (n) p.appendChild(h("br")); inline(p, l); });
        frag.appendChild(p);
      }
    }
    return frag;
  }
  var INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*]+\*|_[^_]+_)|\[([^\]]+)\]\((https?:\/\/[^\s)]+|mailto:[^\s)]+)\)/;
  function inline(el, text) {
    var m;
    while ((m = INLINE.exec(text))) {
      if (m.index) el.appendChild(document.createTextNode(text.slice(0, m.index)));
      if (m[1]) el.appendChild(h("code", { text: m[1].slice(1, -1) }));
      else if (m[2]) inline(el.appendChild(h("strong")), m[2].slice(2, -2));
      else if (m[3]) inline(el.appendChild(h("em")), m[3].slice(1, -1));
      else el.appendChild(h("a", { href: m[5], rel: "nofollow noopener ugc", target: "_blank", text: m[4] }));
      text = text.slice(m.index + m[0].length);
    }
    if (text) el.appendChild(document.createTextNode(text));
    return el;
  }

  /* ---- the widget ---- */
  function Widget(box) {
    this.box = box;
    this.site = opt("site");
    this.url = opt("url") || canonical();
    this.title = opt("title") || document.title || this.url;
    this.sort = SORTS.indexOf(opt("sort")) >= 0 ? opt("sort") : "oldest";
    this.lang = opt("lang") || "";
    this.loginUrl = opt("login-url");
    this.sso = opt("sso-token") || null;
    this.tokenKey = "rostra:" + HOST + ":" + this.site;
    this.guest = load(this.tokenKey);
    this.t = firstStrings(this.lang || document.documentElement.lang || navigator.language);
    this.config = { guests_allowed: true, max_comment_chars: 10000, edit_window_seconds: 900 };
    this.story = null;
    this.cursor = null;
    this.fresh = [];   // live comments waiting behind the "N new comments" button
    this.posting = 0;  // the reader's posts on their way to the server
    this.later = [];   // live comments that came meanwhile: one of them may be such a post
    this.sources = {}; // Markdown the reader wrote this session, by comment id
    this.expired = null;
    this.el = null;    // built by start(), once the first request is on its way
  }

  /* Until the site's table arrives: the page's language, else the browser's, else English. */
  function firstStrings(lang) {
    lang = String(lang || "").toLowerCase();
    return FIRST[lang] || FIRST[lang.split("-")[0]] || EN;
  }
  function canonical() {
    var link = document.querySelector('link[rel="canonical"]');
    var href = link && link.href ? link.href : location.href;
    return href.split("#")[0];
  }
  function load(key) {
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function save(key, value) {
    try {
      if (value) localStorage.setItem(key, JSON.stringify(value)); else localStorage.removeItem(key);
    } catch (e) { /* storage may be disabled; the token then lasts for this page only */ }
  }
  var SHEET = null;
  function adoptCss(root) {
    try {
      if (!SHEET) { SHEET = new CSSStyleSheet(); SHEET.replaceSync(CSS); }
      root.adoptedStyleSheets = [SHEET];
    } catch (e) {
      root.appendChild(h("link", { rel: "stylesheet", href: HOST + "/embed.css" }));
    }
  }

  var W = Widget.prototype;

  /* strings: s("key", {n: 3}) with plural tables {zero, one, other} */
  W.s = function (key, vars) {
    var v = this.t[key] != null ? this.t[key] : EN[key];
    if (v && typeof v === "object") {
      var n = vars ? vars.n : 0, form = n === 0 && v.zero ? "zero" : this.plural.select(n);
      v = v[form] || v.other;
    }
    return String(v == null ? key : v).replace(/\{(\w+)\}/g, function (_, k) {
      return vars && vars[k] != null ? vars[k] : "";
    });
  };

  W.token = function () { return this.sso || (this.guest && this.guest.token) || null; };

  W.me = function () {
    if (this.sso) {
      try {
        var b = this.sso.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
        var claims = JSON.parse(decodeURIComponent(escape(atob(b))));
        return { name: claims.name || "", kind: "sso", email: !!claims.email };
      } catch (e) { return { name: "", kind: "sso" }; }
    }
    return this.guest ? { name: this.guest.name, kind: "guest", email: !!this.guest.email } : null;
  };

  W.api = function (method, path, body, retried) {
    var self = this, headers = { Accept: "application/json" };
    var token = this.token();
    if (token) headers.Authorization = "Bearer " + token;
    if (body) headers["Content-Type"] = "application/json";
    return fetch(HOST + "/api/v1/sites/" + encodeURIComponent(this.site) + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
      mode: "cors", credentials: "omit", cache: "no-store"
    }).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (res.ok) return data;
        data.status = res.status;
        if (res.status === 401 && token && !retried) return self.reauth(method, path, body, data);
        throw data;
      });
    }, function () { throw { code: "network" }; });
  };

  /* A refused token: SSO asks the host page for a fresh one; a guest token is forgotten. */
  W.reauth = function (method, path, body, problem) {
    var self = this;
    if (!this.sso) {
      this.guest = null; save(this.tokenKey, null);
      if (method === "GET") return this.api(method, path, body, true);
      throw problem;
    }
    var ask = this.expired ? Promise.resolve().then(this.expired) : Promise.resolve(null);
    return ask.then(function (fresh) {
      if (!fresh || fresh === self.sso) {
        self.sso = null;
        self.renderComposer();
        if (method === "GET") return self.api(method, path, body, true);
        throw problem;
      }
      self.sso = fresh;
      return self.api(method, path, body, true);
    });
  };

  W.errorText = function (p) {
    var code = p && p.code;
    if (code === "network") return this.s("err_network");
    if (code === "rate_limited") {
      var n = Math.max(1, Math.ceil(+p.retry_after || 60));
      return this.s("err_rate", { wait: this.s("seconds", { n: n }) });
    }
    if (code === "story_closed") return this.s("err_closed");
    if (code === "author_banned") return this.s("err_banned");
    if (code === "edit_window_expired") return this.s("err_window");
    if (code === "invalid_input" && p.field === "body" && p.max_chars) {
      // the server's limit, which may have changed since the page was loaded
      return this.s("err_too_long", { max: p.max_chars });
    }
    if (code === "payload_too_large") return this.s("err_too_long", { max: this.config.max_comment_chars });
    if (code === "unauthenticated") return this.token() ? this.s("err_auth") : this.s("err_guests");
    if (code === "comment_not_found" || (code === "not_allowed" && /reply/.test(p.detail || ""))) {
      return this.s("err_parent");
    }
    if (code === "not_allowed" && /own comment/.test(p.detail || "")) return this.s("err_own_report");
    if (p && p.status >= 500) return this.s("err_server");
    return (p && (p.detail || p.title)) || this.s("err_server");
  };

  /* ---- loading ---- */
  function mark(name) { if (window.performance && performance.mark) performance.mark(name); }

  /* First render: one request brings the site's settings, the string table and the first page
     of the thread. It leaves before anything else is done; the rest of the thread waits
     behind "Load more", live updates and timers until the first page is on screen. */
  W.start = function () {
    var self = this;
    mark("rostra-start");
    var first = this.api("GET", "/widget?url=" + encodeURIComponent(this.url) + "&sort=" + this.sort +
      (this.lang ? "&lang=" + encodeURIComponent(this.lang) : ""));
    this.shell();
    this.el.textContent = "";
    this.status = h("div.sr", { role: "status", "aria-live": "polite" });
    this.el.appendChild(this.status);
    this.el.appendChild(h("p.empty", { text: this.s("loading") }));
    first.then(function (r) {
      mark("rostra-data");
      var page = r.thread;
      delete r.thread;
      self.config = r;
      self.t = r.strings || EN;
      self.plural = new Intl.PluralRules(r.language || "en");
      self.render(page);
    }, function (p) {
      self.plural = new Intl.PluralRules("en");
      self.el.textContent = "";
      self.el.appendChild(h("p.empty", { role: "alert" }, self.s("load_failed") + " ",
        h("button.link", { type: "button", text: self.s("retry"), onclick: function () { self.start(); } })));
      if (p && p.code !== "network" && window.console) console.warn("Rostra:", p.detail || p);
    });
  };
  W.plural = new Intl.PluralRules("en");

  /* The shadow root, its stylesheet and the one set of listeners for every comment's buttons. */
  W.shell = function () {
    if (this.el) return;
    var self = this, theme = opt("theme");
    this.root = this.box.shadowRoot || this.box.attachShadow({ mode: "open" });
    adoptCss(this.root);
    this.el = h("div.r" + (theme === "dark" ? ".dark" : theme === "light" ? ".light" : ""),
      { lang: this.lang || null });
    this.el.addEventListener("click", function (e) { self.act(e); });
    this.el.addEventListener("mouseover", function (e) { self.dateTitle(e.target); });
    this.root.appendChild(this.el);
  };

  /* A click on a comment's button: the button says what to do (data-act), its article which. */
  W.act = function (e) {
    var btn = e.target.closest ? e.target.closest("button[data-act]") : null;
    var art = btn && btn.closest("article"), c = art && art._c;
    if (!c) return;
    var what = btn.getAttribute("data-act");
    if (what === "like") this.react(c, btn);
    else if (what === "reply") this.replyTo(art, c, this.nameOf(c), btn);
    else if (what === "edit") this.edit(art, c, btn);
    else if (what === "delete") this.confirmDelete(art, c, btn);
    else if (what === "report") this.reportForm(art, c, btn);
    else if (what === "more") this.moreReplies(art, btn);
    else if (what === "collapse") {
      var group = art.querySelector(":scope > .replies");
      group.hidden = !group.hidden;
      this.toggleText(btn, group);
    }
  };

  /* The full date as a tooltip, made when the pointer reaches it (date formatting is slow to
     set up and no reader needs it for the first paint). */
  W.dateTitle = function (node) {
    if (node.tagName === "TIME" && !node.title && node.getAttribute("datetime")) {
      node.title = this.fullDate(new Date(node.getAttribute("datetime")));
    }
  };

  W.fetchPage = function (cursor) {
    var path = this.story ? "/stories/" + this.story.id + "/comments?" :
      "/thread?url=" + encodeURIComponent(this.url) + "&";
    path += "sort=" + this.sort + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return this.api("GET", path);
  };

  W.render = function (page) {
    var self = this;
    this.story = page.story;
    this.cursor = page.next_cursor;
    if (page.last_event_id != null && !this.source) this.lastEvent = page.last_event_id;
    this.count = page.count;
    this.el.textContent = "";
    this.el.setAttribute("lang", this.config.language || "en");
    this.el.appendChild(this.status);
    var select = h("select", { id: "rostra-sort", onchange: function () { self.resort(this.value); } },
      SORTS.map(function (k) {
        return h("option", { value: k, selected: k === self.sort, text: self.s("sort_" + k) });
      }));
    this.countEl = h("span.count");
    this.el.appendChild(h("div.head", null,
      h("h2", { id: "rostra-h" }, this.s("comments"), this.countEl),
      h("label.sort", null, this.s("sort"), select)));
    this.composerSlot = h("div");
    this.el.appendChild(this.composerSlot);
    this.renderComposer();
    this.newBtn = h("button.btn.new", { type: "button", hidden: true, "aria-live": "polite",
      onclick: function () { self.showFresh(); } });
    this.el.appendChild(this.newBtn);
    this.featEl = h("section.feat", { "aria-labelledby": "rostra-feat-h", hidden: true },
      h("h3", { id: "rostra-feat-h", text: this.s("featured") }));
    (page.featured || []).forEach(function (c) { self.featEl.appendChild(self.comment(c, 0, true)); });
    this.featEl.hidden = !(page.featured || []).length;
    this.el.appendChild(this.featEl);
    this.feed = h("div.feed", { role: "feed", "aria-labelledby": "rostra-h" });
    this.el.appendChild(this.feed);
    this.emptyEl = h("p.empty", { text: this.s("empty") });
    this.el.appendChild(this.emptyEl);
    this.moreBtn = h("button.btn.secondary.more", { type: "button", text: this.s("load_more"),
      onclick: function () { self.more(); } });
    this.el.appendChild(this.moreBtn);
    this.el.appendChild(h("p.foot", { text: this.s("powered") }));
    this.append(page.comments);
    this.updateCount();
    mark("rostra-rendered");  // publishers and bench/widget_render.py read these marks
    clearInterval(this.clock);
    requestAnimationFrame(function () {
      setTimeout(function () {
        mark("rostra-painted");
        // after the first frame: the live stream and the clock of "5 minutes ago"
        clearInterval(self.clock);
        self.clock = setInterval(function () { self.tick(); }, 60000);
        self.connect();
      }, 0);
    });
    if (location.hash.indexOf("#comment-") === 0) {
      var target = this.root.getElementById(location.hash.slice(1));
      if (target) { target.scrollIntoView(); target.focus(); }
    }
  };

  /* keep "5 minutes ago" true while the page stays open */
  W.tick = function () {
    var self = this;
    this.root.querySelectorAll("time[datetime]").forEach(function (t) {
      t.textContent = self.ago(new Date(t.getAttribute("datetime")));
    });
  };

  W.append = function (list) {
    var frag = document.createDocumentFragment();  // built off the page, inserted at once
    for (var i = 0; i < list.length; i++) frag.appendChild(this.comment(list[i], 0));
    this.feed.appendChild(frag);
    this.moreBtn.hidden = !this.cursor;
    this.emptyEl.hidden = !!this.feed.firstChild;
  };

  W.updateCount = function () {
    this.countEl.textContent = this.count ? " (" + this.count + ")" : "";  // read as "Comments (3)"
  };

  W.more = function () {
    var self = this, btn = this.moreBtn;
    btn.disabled = true;
    var before = this.feed.lastElementChild;
    this.fetchPage(this.cursor).then(function (page) {
      btn.disabled = false;
      self.cursor = page.next_cursor;
      var known = page.comments.filter(function (c) { return !self.find(c.id); });
      self.append(known);
      var first = before ? before.nextElementSibling : self.feed.firstElementChild;
      if (first) first.focus();
    }, function (p) { btn.disabled = false; self.say(self.errorText(p)); });
  };

  W.resort = function (sort) {
    var self = this;
    this.sort = sort;
    this.feed.classList.add("busy");
    this.fetchPage(null).then(function (page) {
      self.feed.classList.remove("busy");
      self.cursor = page.next_cursor;
      self.feed.textContent = "";
      self.append(page.comments);
    }, function (p) { self.feed.classList.remove("busy"); self.say(self.errorText(p)); });
  };

  W.say = function (text) {
    this.status.textContent = "";
    var status = this.status;
    setTimeout(function () { status.textContent = text; }, 30);
  };

  W.find = function (id) { return this.feed && this.feed.querySelector('article[data-id="' + id + '"]'); };

  /* ---- one comment ----
     Hundreds of these make the first render, so they are built with bare DOM calls and carry
     no listeners of their own: W.act handles every button through its data-act. */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function actButton(cls, act, text) {
    var b = el("button", cls, text);
    b.type = "button";
    b.setAttribute("data-act", act);
    return b;
  }

  W.comment = function (c, level, featured) {
    var name = this.nameOf(c);
    var id = (featured ? "rostra-f-" : "comment-") + c.id;
    var art = el("article", c.status === "pending" ? "pending" : null);
    art.id = id;
    art.setAttribute("data-id", c.id);
    art.setAttribute("tabindex", "-1");
    art.setAttribute("aria-labelledby", id + "-by");
    art._c = c;
    var card = this.card(c, id, name);
    art.appendChild(card);
    if (!featured) {
      var group = el("div", "replies"), replies = c.replies || [];
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", this.s("replies_to", { name: name }));
      group.id = id + "-replies";
      group.hidden = !replies.length;  // no empty group for screen readers to announce
      for (var i = 0; i < replies.length; i++) group.appendChild(this.comment(replies[i], level + 1));
      art.appendChild(group);
      if (replies.length && card.lastChild.className === "tools") {
        card.lastChild.appendChild(this.collapser(group));
      }
      if (c.more_replies) art.appendChild(actButton("link toggle", "more", this.s("more_replies")));
    }
    return art;
  };

  W.nameOf = function (c) { return c.author && c.author.name ? c.author.name : this.s("anonymous"); };

  /* the visible part of a comment: meta line, text, tools (rebuilt after edits) */
  W.card = function (c, id, name) {
    name = name || this.nameOf(c);
    var card = el("div", "card");
    if (c.status === "deleted" || c.status === "removed") {
      var gone = el("p", "gone", this.s(c.status));
      gone.id = id + "-by";
      card.appendChild(gone);
      return card;
    }
    var meta = el("div", "meta"), av = el("span", "av", initials(name)), who = el("span", "name", name);
    av.setAttribute("aria-hidden", "true");
    av.style.background = COLORS[hash(name) % COLORS.length];
    who.id = id + "-by";
    meta.appendChild(av);
    meta.appendChild(who);
    if (c.reply_to) {
      meta.appendChild(el("span", "to", this.s("in_reply_to", { name: c.reply_to.name || this.s("anonymous") })));
    }
    var time = el("time", null, this.ago(new Date(c.created_at)));
    time.setAttribute("datetime", c.created_at);  // its title (the full date) comes on hover
    meta.appendChild(time);
    if (c.edited_at) meta.appendChild(el("span", "to", "· " + this.s("edited")));
    if (c.featured) meta.appendChild(el("span", "badge featured", this.s("featured_badge")));
    if (c.mine) meta.appendChild(el("span", "badge mine", this.s("you_badge")));
    if (c.status === "pending") {
      var held = el("span", "badge held", this.s("held_badge"));
      held.title = this.s("held_note");
      meta.appendChild(held);
    }
    card.appendChild(meta);
    var text = el("div", "text");
    text.appendChild(safeHtml(c.html));
    card.appendChild(text);
    card.appendChild(this.tools(c, name));
    return card;
  };

  /* swap a rendered comment's card for a fresh one (after an edit or a live change) */
  W.recard = function (art) {
    art.replaceChild(this.card(art._c, art.id), art.querySelector(":scope > .card"));
    art.classList.toggle("pending", art._c.status === "pending");
    if (art.querySelector(":scope > .replies")) this.toggle(art);
  };

  function initials(name) {
    var parts = name.trim().split(/\s+/);
    return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
  }
  function hash(s) {
    var x = 0;
    for (var i = 0; i < s.length; i++) x = (x * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(x);
  }

  /* The full date (for tooltips), with a formatter built once per widget on first use: setting
     up Intl date and number formatting costs tens of milliseconds in a fresh page. */
  W.fullDate = function (date) {
    var lang = this.config.language || "en";
    if (!this._dates || this._dates.lang !== lang) {
      this._dates = new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" });
      this._dates.lang = lang;
    }
    return this._dates.format(date);
  };

  /* "5 minutes ago" from the string tables (plural rules are cheap; Intl.RelativeTimeFormat is
     not, and it would be paid before the first paint). A date in the future is "just now". */
  var AGO = [[3600, 60, "ago_minute"], [86400, 3600, "ago_hour"], [604800, 86400, "ago_day"],
    [2629800, 604800, "ago_week"], [31557600, 2629800, "ago_month"], [Infinity, 31557600, "ago_year"]];
  W.ago = function (date) {
    var secs = (Date.now() - date.getTime()) / 1000;
    if (!(secs >= 60)) return this.s("just_now");
    for (var i = 0; secs >= AGO[i][0]; i++) { /* find the unit */ }
    return this.s(AGO[i][2], { n: Math.max(1, Math.round(secs / AGO[i][1])) });
  };

  /* collapse/expand button for a comment's replies (kept in step with their number) */
  W.toggle = function (art) {
    var group = art.querySelector(":scope > .replies"), n = group.children.length;
    var btn = art.querySelector(":scope > .card .tools .collapse");
    if (!n) { if (btn) btn.remove(); return; }
    if (!btn) {
      var tools = art.querySelector(":scope > .card .tools");
      if (tools) tools.appendChild(this.collapser(group));
    } else {
      this.toggleText(btn, group);
    }
  };
  W.collapser = function (group) {
    var btn = actButton("link collapse", "collapse");
    btn.setAttribute("aria-controls", group.id);
    this.toggleText(btn, group);
    return btn;
  };
  W.toggleText = function (btn, group) {
    var n = group.children.length;
    btn.setAttribute("aria-expanded", String(!group.hidden));
    btn.textContent = this.s(group.hidden ? "show_replies" : "hide_replies", { n: n });
  };

  W.tools = function (c, name) {
    var tools = el("div", "tools");
    if (c.status === "published") {
      var like = actButton("link", "like"), heart = el("span", "heart", "♥");
      like.setAttribute("aria-pressed", String(!!c.reacted));
      like.setAttribute("aria-label", this.likeLabel(c.reactions));
      heart.setAttribute("aria-hidden", "true");
      like.appendChild(heart);
      like.appendChild(el("span", "n", c.reactions ? String(c.reactions) : this.s("like")));
      tools.appendChild(like);
      if (this.open()) {
        var reply = actButton("link", "reply", this.s("reply"));
        reply.setAttribute("aria-label", this.s("reply") + " – " + name);
        tools.appendChild(reply);
      }
    }
    if (c.mine && this.editable(c)) tools.appendChild(actButton("link", "edit", this.s("edit")));
    if (c.mine) tools.appendChild(actButton("link", "delete", this.s("delete")));
    else if (c.status === "published") tools.appendChild(actButton("link", "report", this.s("report")));
    return tools;
  };

  W.likeLabel = function (n) { return this.s("like") + (n ? " (" + this.s("likes", { n: n }) + ")" : ""); };

  W.open = function () { return !this.story || this.story.open !== false; };
  W.editable = function (c) {
    var age = (Date.now() - new Date(c.created_at).getTime()) / 1000;
    return age < (this.config.edit_window_seconds || 0) && this.open();
  };

  /* A panel below a comment's card (reply form, edit form, report form): one at a time. */
  W.panel = function (art, node, opener) {
    var old = art.querySelector(":scope > .slot");
    if (old) {
      var same = old._opener === opener;
      old.remove();
      if (same) { opener.focus(); return null; }
    }
    var slot = h("div.slot", null, node);
    slot._opener = opener;
    art.querySelector(":scope > .card").after(slot);
    return slot;
  };
  W.closePanel = function (slot) {
    if (!slot.parentNode) return;
    var opener = slot._opener;
    slot.remove();
    if (opener && opener.isConnected) opener.focus();
  };

  /* ---- writing ---- */
  W.renderComposer = function () {
    if (!this.composerSlot) return;
    this.composerSlot.textContent = "";
    this.composerSlot.appendChild(this.composer(null));
  };

  W.composer = function (parent, parentName, slotDone) {
    var self = this, me = this.me(), reply = !!parent;
    if (!this.open()) return h("p.closed", { text: this.s("closed") });
    if (!me && !this.config.guests_allowed) {
      return h("div.signin", null, this.s("sign_in_prompt") + " ",
        this.loginUrl ? h("a", { href: this.loginUrl, target: "_top", text: this.s("sign_in") }) : null);
    }
    var uid = "rostra-" + (parent ? "r" + parent.id : "new");
    var label = reply ? this.s("your_reply", { name: parentName }) : this.s("your_comment");
    var ta = h("textarea", { id: uid + "-text", name: "body", "aria-label": label,
      placeholder: this.s(reply ? "reply_placeholder" : "placeholder"), rows: reply ? 3 : 4,
      "aria-describedby": uid + "-hint" });
    var pv = h("div.preview.text", { role: "tabpanel", id: uid + "-pv", hidden: true, tabindex: "0",
      "aria-label": this.s("preview") });
    var tWrite = h("button", { type: "button", role: "tab", "aria-selected": "true", "aria-controls": uid + "-text",
      text: this.s("write") });
    var tPrev = h("button", { type: "button", role: "tab", "aria-selected": "false", "aria-controls": uid + "-pv",
      tabindex: "-1", text: this.s("preview") });
    function tab(showPreview) {
      tWrite.setAttribute("aria-selected", String(!showPreview));
      tPrev.setAttribute("aria-selected", String(showPreview));
      tWrite.tabIndex = showPreview ? -1 : 0;
      tPrev.tabIndex = showPreview ? 0 : -1;
      ta.hidden = showPreview;
      pv.hidden = !showPreview;
      if (showPreview) {
        pv.textContent = "";
        if (ta.value.trim()) pv.appendChild(preview(ta.value));
        else pv.appendChild(h("span.hint", { text: self.s("preview_empty") }));
      }
    }
    tWrite.onclick = function () { tab(false); ta.focus(); };
    tPrev.onclick = function () { tab(true); };
    var tabs = h("div.tabs", { role: "tablist", "aria-label": label, onkeydown: function (e) {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        var p = tPrev.getAttribute("aria-selected") !== "true";
        tab(p); (p ? tPrev : tWrite).focus(); e.preventDefault();
      }
    } }, tWrite, tPrev);
    var max = this.config.max_comment_chars || 10000;
    var left = h("span");
    var hint = h("div.hint", { id: uid + "-hint" }, this.s("markdown_hint"), left);
    function counter() {
      var n = max - ta.value.length;
      left.className = n < 0 ? "over" : "";
      left.textContent = n < 0 ? " · " + self.s("chars_over", { n: -n }) :
        n < 200 ? " · " + self.s("chars_left", { n: n }) : "";
    }
    ta.addEventListener("input", counter);
    var msg = h("p.msg", { role: "alert" });
    var submit = h("button.btn", { type: "submit", text: this.s(reply ? "post_reply" : "post") });
    var fields = null, nameIn, emailIn, trap;
    var who, notify = me && me.email && !reply ? this.notifyBox() : null;
    if (me && reply) {
      who = null;  // the main form already says who is writing
    } else if (me) {
      who = h("p.who", null, this.s("commenting_as", { name: "" }), h("strong", { text: me.name }));
      if (me.kind === "guest") {
        who.appendChild(document.createTextNode(" · "));
        who.appendChild(h("button.link", { type: "button", text: this.s("not_you"), onclick: function () {
          self.guest = null; save(self.tokenKey, null); self.renderComposer();
          self.composerSlot.querySelector("input").focus();
        } }));
      }
    } else {
      nameIn = h("input", { type: "text", name: "name", required: true, maxlength: "100", autocomplete: "name" });
      emailIn = h("input", { type: "email", name: "email", maxlength: "320", autocomplete: "email" });
      trap = h("input", { type: "text", name: "website", tabindex: "-1", autocomplete: "off" });
      fields = h("div.guest", null,
        h("label", null, this.s("guest_name"), nameIn),
        h("label", null, this.s("guest_email"), emailIn),
        h("label.trap", { "aria-hidden": "true" }, this.s("guest_website"), trap));
    }
    var cancel = reply ? h("button.btn.secondary", { type: "button", text: this.s("cancel"),
      onclick: function () { slotDone(); } }) : null;
    var form = h("form.compose" + (reply ? ".reply" : ""), { "aria-label": label, novalidate: true },
      who, fields, h("div.box", null, tabs, ta, pv),
      h("div.bar", null, hint, h("div.acts", null, notify, cancel, submit)), msg);
    ta.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
      if (e.key === "Escape" && reply) slotDone();
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      msg.className = "msg err";
      var body = ta.value.trim();
      if (!body) { msg.textContent = self.s("err_empty"); tab(false); ta.focus(); return; }
      if (body.length > max) { msg.textContent = self.s("err_too_long", { max: max }); ta.focus(); return; }
      var payload = { body: body };
      if (self.story) payload.story_id = self.story.id;
      else { payload.url = self.url; payload.title = self.title; }
      if (parent) payload.parent_id = parent.id;
      if (!me) {
        if (!nameIn.value.trim()) { msg.textContent = self.s("err_name"); nameIn.focus(); return; }
        payload.name = nameIn.value.trim();
        if (emailIn.value.trim()) payload.email = emailIn.value.trim();
        if (trap.value) payload.website = trap.value;
      }
      submit.disabled = true;
      submit.textContent = self.s("posting");
      msg.textContent = "";
      self.posting++;
      self.api("POST", "/comments", payload).then(function (res) {
        submit.disabled = false;
        submit.textContent = self.s(reply ? "post_reply" : "post");
        if (res.reader_token) {
          self.guest = { token: res.reader_token, name: payload.name, email: !!payload.email };
          save(self.tokenKey, self.guest);
        }
        self.sources[res.id] = body;
        ta.value = "";
        counter();
        tab(false);
        self.posted(res, parent, !me);
        if (reply) slotDone(true);
      }, function (p) {
        submit.disabled = false;
        submit.textContent = self.s(reply ? "post_reply" : "post");
        msg.textContent = self.errorText(p);
        if (p && p.code === "story_closed" && self.story) { self.story.open = false; }
        ta.focus();
      }).finally(function () { self.settle(); });
    });
    counter();
    form._focus = function () { (nameIn && !nameIn.value ? nameIn : ta).focus(); };
    return form;
  };

  /* "Email me replies" for signed-in readers with an address; the server keeps the choice. */
  W.notifyBox = function () {
    var self = this, label;
    var box = h("input", { type: "checkbox", name: "notify", disabled: true, onchange: function () {
      var on = box.checked;
      box.disabled = true;
      self.api("PUT", "/notifications", { replies: on }).then(function (r) {
        box.disabled = false; box.checked = !!r.replies;
        self.say(self.s(r.replies ? "notify_on" : "notify_off"));
      }, function (p) { box.disabled = false; box.checked = !on; self.say(self.errorText(p)); });
    } });
    this.api("GET", "/notifications").then(function (r) { box.checked = !!r.replies; box.disabled = false; },
      function () { label.hidden = true; });
    label = h("label.notify", null, box, " " + this.s("notify_replies"));
    return label;
  };

  /* Show the reader's new comment where it belongs, move focus to it and say what happened. */
  W.posted = function (res, parent, becameGuest) {
    var me = this.me() || { name: "" };
    if (!this.story) {
      this.story = { id: res.story_id, open: true };
      this.connect();
    }
    var c = { id: res.id, parent_id: res.parent_id, author: { name: me.name }, html: res.html,
      status: res.status, featured: false, reactions: 0, reply_count: 0,
      created_at: res.created_at, edited_at: null, mine: true, reacted: false, replies: [] };
    var art;
    if (parent) {
      art = this.insertReply(c);
    } else {
      art = this.comment(c, 0);
      if (this.sort === "newest") this.feed.insertBefore(art, this.feed.firstChild);
      else this.feed.appendChild(art);
      this.emptyEl.hidden = true;
    }
    if (res.status === "published") { this.count = (this.count || 0) + 1; this.updateCount(); }
    if (becameGuest) this.renderComposer();
    var text = this.s(res.status === "published" ? "published" : "held");
    if (art) {
      art.classList.add("flash");
      art.scrollIntoView({ block: "nearest" });
      art.focus();
    }
    this.say(text);
    var msg = this.composerSlot.querySelector(".msg");
    if (msg && !parent) { msg.className = "msg ok"; msg.textContent = text; }
    else if (parent && art) {
      art.querySelector(".card").appendChild(h("p.msg.ok", { text: text }));
    }
  };

  /* Put a reply under its parent (or beside it, past the nesting limit). */
  W.insertReply = function (c) {
    var parent = this.find(c.parent_id);
    if (!parent) return null;
    var depth = 0, host = parent;
    for (var n = parent; n.parentNode && n.parentNode.classList && n.parentNode.classList.contains("replies"); n = n.parentNode.parentNode) depth++;
    if (depth >= MAX_NEST) {
      host = parent.parentNode.parentNode;
      c.reply_to = { id: parent._c.id, name: parent._c.author ? parent._c.author.name : null };
    }
    var group = host.querySelector(":scope > .replies");
    var art = this.comment(c, depth + 1);
    group.hidden = false;
    group.appendChild(art);
    this.toggle(host);
    return art;
  };

  W.replyTo = function (art, c, name, opener) {
    var self = this, slot;
    var form = this.composer(c, name, function (posted) { if (posted) slot._opener = null; self.closePanel(slot); });
    slot = this.panel(art, form, opener);
    if (slot && form._focus) form._focus();
  };

  W.edit = function (art, c, opener) {
    var self = this, slot;
    var ta = h("textarea", { "aria-label": this.s("edit"), rows: 4 });
    var msg = h("p.msg.err", { role: "alert" });
    var saveBtn = h("button.btn", { type: "submit", text: this.s("save") });
    var form = h("form.compose.reply", { "aria-label": this.s("edit") },
      h("div.box", null, ta),
      h("div.bar", null, h("div.hint", { text: this.s("markdown_hint") }), h("div.acts", null,
        h("button.btn.secondary", { type: "button", text: this.s("cancel"), onclick: function () { self.closePanel(slot); } }),
        saveBtn)), msg);
    slot = this.panel(art, form, opener);
    if (!slot) return;
    ta.addEventListener("keydown", function (e) {
      if (e.key === "Escape") self.closePanel(slot);
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
    var known = this.sources[c.id];
    var source = known != null ? Promise.resolve(known) : this.api("GET", "/comments/" + c.id)
      .then(function (r) { return r.body != null ? r.body : art.querySelector(".text").textContent; });
    source.then(function (body) { ta.value = body; ta.focus(); }, function (p) { msg.textContent = self.errorText(p); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = ta.value.trim();
      if (!body) { msg.textContent = self.s("err_empty"); return; }
      saveBtn.disabled = true;
      self.api("PATCH", "/comments/" + c.id, { body: body }).then(function (res) {
        self.sources[c.id] = body;
        c.html = res.html; c.status = res.status; c.edited_at = res.edited_at;
        self.recard(art);
        slot.remove();
        art.focus();
        self.say(self.s(c.status === "pending" ? "held" : "edited_ok"));
      }, function (p) { saveBtn.disabled = false; msg.textContent = self.errorText(p); });
    });
  };

  W.confirmDelete = function (art, c, opener) {
    var self = this, slot;
    var msg = h("p.msg.err", { role: "alert" });
    var yes = h("button.btn", { type: "button", text: this.s("delete"), onclick: function () {
      yes.disabled = true;
      self.api("DELETE", "/comments/" + c.id).then(function () {
        var wasPublished = c.status === "published";
        c.status = "deleted";
        var group = art.querySelector(":scope > .replies");
        if (group && group.children.length) {
          self.recard(art);
          slot.remove();
          art.focus();
        } else {
          var next = art.nextElementSibling || art.previousElementSibling || self.composerSlot.querySelector("textarea");
          var host = art.parentNode.closest("article");
          art.remove();
          if (host) self.toggle(host);
          if (next) next.focus();
        }
        if (wasPublished) { self.count = Math.max(0, self.count - 1); self.updateCount(); }
        self.say(self.s("deleted_ok"));
      }, function (p) { yes.disabled = false; msg.textContent = self.errorText(p); });
    } });
    var panel = h("div.panel", { role: "group", "aria-label": this.s("delete") },
      h("p", { text: this.s("delete_confirm") }), h("div.acts", null,
        h("button.btn.secondary", { type: "button", text: this.s("cancel"), onclick: function () { self.closePanel(slot); } }),
        yes), msg);
    slot = this.panel(art, panel, opener);
    if (slot) yes.focus();
  };

  W.reportForm = function (art, c, opener) {
    var self = this, slot;
    if (!this.token()) { this.inlineNote(art, this.s("sign_in_to_report"), opener); return; }
    var uid = "rostra-rep-" + c.id;
    var note = h("input", { type: "text", maxlength: "1000", id: uid + "-note" });
    var msg = h("p.msg", { role: "alert" });
    var send = h("button.btn", { type: "submit", text: this.s("send_report") });
    var form = h("form.panel", { "aria-label": this.s("report") },
      h("fieldset", null, h("legend", { text: this.s("report_title") }),
        REASONS.map(function (r, i) {
          return h("label", null, h("input", { type: "radio", name: uid, value: r, checked: i === 0 }),
            " " + self.s("reason_" + r));
        })),
      h("label", { for: uid + "-note", text: this.s("report_note") }), note,
      h("div.acts", null, h("button.btn.secondary", { type: "button", text: this.s("cancel"),
        onclick: function () { self.closePanel(slot); } }), send), msg);
    form.addEventListener("keydown", function (e) { if (e.key === "Escape") self.closePanel(slot); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var reason = form.querySelector("input[type=radio]:checked").value;
      send.disabled = true;
      self.api("POST", "/comments/" + c.id + "/reports", { reason: reason, note: note.value.trim() || null })
        .then(function (res) {
          form.textContent = "";
          form.appendChild(h("p.msg.ok", { role: "status", tabindex: "-1",
            text: self.s(res.already_reported ? "already_reported" : "reported") }));
          form.firstChild.focus();
        }, function (p) { send.disabled = false; msg.className = "msg err"; msg.textContent = self.errorText(p); });
    });
    slot = this.panel(art, form, opener);
    if (slot) form.querySelector("input").focus();
  };

  W.inlineNote = function (art, text, opener) {
    var slot = this.panel(art, h("p.panel", { role: "status", tabindex: "-1", text: text }), opener);
    if (slot) slot.firstChild.focus();
  };

  W.react = function (c, btn) {
    var self = this;
    if (!this.token()) { this.inlineNote(btn.closest("article"), this.s("sign_in_to_react"), btn); return; }
    btn.disabled = true;
    this.api("POST", "/comments/" + c.id + "/reactions").then(function (res) {
      btn.disabled = false;
      c.reacted = res.reacted; c.reactions = res.reactions;
      self.root.querySelectorAll('article[data-id="' + c.id + '"] > .card .tools .link:first-child')
        .forEach(function (b) {
          b.setAttribute("aria-pressed", String(res.reacted));
          b.setAttribute("aria-label", self.likeLabel(res.reactions));
          b.querySelector(".n").textContent = res.reactions ? String(res.reactions) : self.s("like");
        });
      btn.focus();
    }, function (p) { btn.disabled = false; self.say(self.errorText(p)); });
  };

  W.moreReplies = function (art, btn) {
    var self = this, all = [], id = art._c.id;
    btn.disabled = true;
    (function page(cursor) {
      self.api("GET", "/comments/" + id + "/replies" + (cursor ? "?cursor=" + encodeURIComponent(cursor) : ""))
        .then(function (res) {
          all = all.concat(res.comments);
          if (res.next_cursor) return page(res.next_cursor);
          var group = art.querySelector(":scope > .replies");
          group.textContent = "";
          btn.remove();
          var nodes = {}, levels = {};
          nodes[id] = art; levels[id] = 0;
          all.forEach(function (r) {
            var parent = nodes[r.parent_id] || art, lvl = (levels[r.parent_id] || 0) + 1, host = parent;
            if (lvl > MAX_NEST) {
              host = parent.parentNode.parentNode; lvl = MAX_NEST;
              r.reply_to = { id: r.parent_id, name: parent._c.author ? parent._c.author.name : null };
            }
            var el = self.comment(r, lvl);
            var into = host.querySelector(":scope > .replies");
            into.hidden = false;
            into.appendChild(el);
            nodes[r.id] = el; levels[r.id] = lvl;
          });
          Object.keys(nodes).forEach(function (k) { self.toggle(nodes[k]); });
        }, function (p) { btn.disabled = false; self.say(self.errorText(p)); });
    })(null);
  };

  /* ---- live updates over Server-Sent Events ---- */
  W.connect = function () {
    var self = this;
    if (!this.story || !window.EventSource || this.source) return;
    var delay = 1000;
    function open() {
      var url = HOST + "/api/v1/sites/" + encodeURIComponent(self.site) + "/stories/" + self.story.id +
        "/events" + (self.lastEvent != null ? "?after=" + self.lastEvent : "");
      var es = self.source = new EventSource(url);
      es.onopen = function () { delay = 1000; };
      es.addEventListener("comment", function (e) { self.lastEvent = e.lastEventId; self.live(JSON.parse(e.data)); });
      es.addEventListener("edited", function (e) { self.lastEvent = e.lastEventId; self.liveEdit(JSON.parse(e.data)); });
      es.addEventListener("removed", function (e) { self.lastEvent = e.lastEventId; self.liveRemove(JSON.parse(e.data)); });
      es.onerror = function () {
        if (es.readyState !== 2) return;  // the browser reconnects by itself
        es.close();
        self.source = null;
        setTimeout(function () { if (!self.source) { open(); } }, delay);
        delay = Math.min(delay * 2, 60000);
      };
    }
    open();
  };

  W.live = function (c) {
    if (this.posting) { this.later.push(c); return; }
    if (this.find(c.id) || this.fresh.some(function (f) { return f.id === c.id; })) return;
    if (c.parent_id && !this.find(c.parent_id)) return;  // its thread is not on screen
    this.fresh.push(c);
    this.count = (this.count || 0) + 1;
    this.updateCount();
    var label = this.s("new_comments", { n: this.fresh.length });
    this.newBtn.textContent = label;
    this.newBtn.hidden = false;
  };

  /* A post has its answer: live comments that came while it was on its way are let through
     now, after W.posted showed the reader's own (which the stream may have brought first). */
  W.settle = function () {
    if (--this.posting > 0) return;
    this.posting = 0;
    var later = this.later;
    this.later = [];
    for (var i = 0; i < later.length; i++) this.live(later[i]);
  };

  W.showFresh = function () {
    var self = this, first = null;
    this.fresh.forEach(function (c) {
      c.mine = false;
      var art;
      if (c.parent_id) art = self.insertReply(c);
      else {
        art = self.comment(c, 0);
        if (self.sort === "newest") self.feed.insertBefore(art, self.feed.firstChild);
        else self.feed.appendChild(art);
      }
      if (art) { art.classList.add("flash"); first = first || art; }
    });
    this.fresh = [];
    this.newBtn.hidden = true;
    this.emptyEl.hidden = !!this.feed.firstChild;
    if (first) { first.scrollIntoView({ block: "nearest" }); first.focus(); }
  };

  W.liveEdit = function (c) {
    var self = this;
    this.root.querySelectorAll('article[data-id="' + c.id + '"]').forEach(function (art) {
      art._c.html = c.html; art._c.edited_at = c.edited_at;
      self.recard(art);
    });
  };

  W.liveRemove = function (c) {
    this.fresh = this.fresh.filter(function (f) { return f.id !== c.id; });
    if (!this.fresh.length && this.newBtn) this.newBtn.hidden = true;
    var self = this;
    this.root.querySelectorAll('article[data-id="' + c.id + '"]').forEach(function (art) {
      if (art._c.mine) return;
      var host = art.parentNode.closest("article");
      art.remove();
      if (host) self.toggle(host);
    });
  };

  /* ---- public API for the host page ---- */
  var widget = null;
  var api = window.Rostra = window.Rostra || {};
  api.setToken = function (token) {
    if (!widget) { script.setAttribute("data-sso-token", token || ""); return; }
    var had = widget.sso;
    widget.sso = token || null;
    if (!!had !== !!widget.sso || (had && token && widget.me().name !== parseName(had))) {
      widget.start();  // who the reader is changed: their own held comments differ
    }
  };
  function parseName(token) {
    try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).name; }
    catch (e) { return null; }
  }
  api.onTokenExpired = function (fn) { if (widget) widget.expired = fn; else api._expired = fn; };
  api.reload = function () { if (widget) widget.start(); };

  function boot() {
    var box = container();
    if (!box || !opt("site")) {
      if (window.console) console.warn("Rostra: add <div id=\"rostra-comments\"></div> and data-site");
      return;
    }
    widget = new Widget(box);
    if (api._expired) widget.expired = api._expired;
    widget.start();
  }
  // The snippet puts the container before the script, so it is usually there already: start
  // at once rather than after the rest of the article has been parsed.
  if (container() || document.readyState !== "loading") boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
