/* The desk's live parts: the WebSocket (queue updates, chat lines, reminders), sending chat
   messages with canned-reply shortcuts, the caller's history and knowledge references at intake.
   No framework; the pages work without it except for the live chat. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf");
  if (!body.getAttribute("data-user")) return;

  function $(sel) { return document.querySelector(sel); }
  function toast(text) {
    var el = $("#desk-toast"); if (!el) return;
    el.textContent = text; el.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { el.hidden = true; }, 8000);
  }

  var chat = $("#chat");
  var conversation = chat ? chat.getAttribute("data-conversation") : null;
  var log = $("#chat-log");
  function addLine(from, text, agentNo) {
    if (!log) return;
    var line = document.createElement("div"); line.className = "line from-" + from;
    var who = document.createElement("span"); who.className = "who";
    who.textContent = (from === "citizen" ? "市民" : from === "agent" ? "坐席" + (agentNo ? " " + agentNo : "") : "机器人");
    line.appendChild(who); line.appendChild(document.createTextNode(text));
    log.appendChild(line); log.scrollTop = log.scrollHeight;
  }
  if (log) log.scrollTop = log.scrollHeight;

  var items = $("#live-items");
  var refreshing = false;
  function refreshQueue() {
    if (!items || refreshing) return;
    refreshing = true;
    fetch(items.getAttribute("data-refresh"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) items.innerHTML = html; })
      .finally(function () { refreshing = false; });
  }

  var retry = 0;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/desk/ws");
    ws.onopen = function () { retry = 0; body.setAttribute("data-live", "1"); };
    ws.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "queue") refreshQueue();
      else if (f.type === "line" && f.conversation === conversation) {
        if (!(f.from === "agent" && f.mine)) addLine(f.from, f.text, f.agent_no);
      } else if (f.type === "line" && f.from === "citizen" && items) refreshQueue();
      else if (f.type === "reminder") toast(f.text);
      else if (f.type === "canned") loadCanned();
    };
    ws.onclose = function () {
      body.removeAttribute("data-live");
      retry = Math.min(retry + 1, 6); setTimeout(connect, 500 * Math.pow(2, retry - 1));
    };
  }
  connect();

  // sending in live chat: Enter sends, Shift+Enter breaks the line; "/shortcut" expands a canned reply.
  // A shortcut nobody defined is never sent to the citizen: the server answers 400 and it is shown here.
  var form = $("#chat-form"), input = $("#chat-input"), chatError = $("#chat-error"), cannedBox = $("#canned");
  var canned = {};
  function showError(text) {
    if (!chatError) { toast(text); return; }
    chatError.textContent = text || ""; chatError.hidden = !text;
  }
  function cannedButton(shortcut, text) {
    var b = document.createElement("button"); b.type = "button"; b.className = "canned-item";
    b.setAttribute("data-shortcut", shortcut); b.setAttribute("data-text", text); b.title = text;
    b.textContent = shortcut;
    return b;
  }
  function useCanned(b) {
    canned[b.getAttribute("data-shortcut")] = b.getAttribute("data-text");
    b.addEventListener("click", function () { input.value = b.getAttribute("data-text"); input.focus(); });
  }
  document.querySelectorAll(".canned-item").forEach(useCanned);
  function loadCanned() {  // a reply added (or removed) elsewhere appears without reloading
    if (!cannedBox) return Promise.resolve();
    return fetch("/desk/api/canned", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        canned = {}; cannedBox.textContent = "";
        data.canned.forEach(function (c) { var b = cannedButton(c.shortcut, c.text); cannedBox.appendChild(b); useCanned(b); });
      });
  }
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      // a shortcut this page does not know goes as it is: the server expands it or says it is unknown
      if (canned[text]) text = canned[text];
      input.value = ""; showError("");
      fetch(form.getAttribute("data-url"), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ text: text })
      }).then(function (r) {
        if (r.ok) return;
        input.value = text;
        return r.json().then(function (data) {
          showError((data.errors && data.errors.text) || ("发送失败 / not sent (" + r.status + ")"));
        }, function () { showError("发送失败 / not sent (" + r.status + ")"); });
      });
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
    });
  }

  // intake: the caller's history as soon as the number is typed; references for the question
  var phone = $("#intake-phone"), historyBox = $("#history-box");
  var timer;
  if (phone && historyBox) phone.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(phone.getAttribute("data-history") + encodeURIComponent(phone.value), { credentials: "same-origin" })
        .then(function (r) { return r.text(); }).then(function (html) { historyBox.innerHTML = html; });
    }, 250);
  });
  // intake: the open cases like the one being typed (same caller, same place): 相似工单
  var similarBox = $("#similar-box"), stimer;
  function refreshSimilar() {
    clearTimeout(stimer);
    stimer = setTimeout(function () {
      var q = new URLSearchParams();
      [["phone", "#intake-phone"], ["email", "#intake-email"], ["location", "#intake-location"],
       ["q", "#intake-description"], ["category", "#intake-category"]].forEach(function (p) {
        var el = $(p[1]); if (el && el.value) q.set(p[0], el.value.slice(0, 500));
      });
      fetch(similarBox.getAttribute("data-similar") + "?" + q.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.text(); }).then(function (html) { similarBox.innerHTML = html; });
    }, 400);
  }
  if (similarBox) ["#intake-phone", "#intake-email", "#intake-location", "#intake-description", "#intake-category"]
    .forEach(function (sel) { var el = $(sel); if (el) el.addEventListener(el.tagName === "SELECT" ? "change" : "input", refreshSimilar); });
  // a merge closes a case: asked once more
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button[data-confirm]");
    if (b && !window.confirm(b.getAttribute("data-confirm"))) ev.preventDefault();
  });
  var question = $("#intake-description"), refs = $("#references");
  var qtimer;
  if (question && refs) question.addEventListener("input", function () {
    clearTimeout(qtimer);
    qtimer = setTimeout(function () {
      fetch(question.getAttribute("data-references") + encodeURIComponent(question.value.slice(0, 200)), { credentials: "same-origin" })
        .then(function (r) { return r.json(); }).then(function (data) {
          refs.innerHTML = "";
          data.articles.concat(data.cases).forEach(function (a) {
            var div = document.createElement("div"); div.className = "card";
            var h = document.createElement("b"); h.textContent = a.question || (a.number + " " + a.title);
            var p = document.createElement("p"); p.textContent = a.answer || a.reply || "";
            var use = document.createElement("button"); use.type = "button"; use.textContent = "引用 / use";
            use.addEventListener("click", function () { var ans = $("#intake-answer"); if (ans) ans.value = p.textContent; });
            div.appendChild(h); div.appendChild(p); div.appendChild(use); refs.appendChild(div);
          });
        });
    }, 400);
  });
})();
