/* 12345 web chat widget: plain JavaScript, no dependencies. Include it on any page with
   <script src="/chat/widget.js" defer></script>. Texts are rendered as text (never HTML).
   The chat keeps its place: the session id and whether the panel is open live in the tab's
   sessionStorage (a page change or a reload continues the conversation; a shared computer's next
   visitor in a new tab does not see it), and the server replays the conversation on every
   (re)connection. A dropped connection is retried with backoff. */
(function () {
  "use strict";
  var lang = (document.documentElement.lang || "zh").slice(0, 2) === "en" ? "en" : "zh";
  var T = {
    zh: { open: "在线客服", title: "12345 在线客服", placeholder: "请输入您的问题…", send: "发送",
          close: "关闭", reconnecting: "连接中断，正在重新连接…", inputLabel: "输入消息",
          download: "下载聊天记录", downloadFailed: "暂时无法下载聊天记录，请稍后再试。",
          mail: "发送聊天记录到邮箱", mailLabel: "电子邮箱", mailSend: "发送", mailSent: "聊天记录已发送到您的邮箱。",
          queue: function (p, m) { return p <= 1 ? "正在为您转接人工客服，您是下一位，预计等待约" + m + "分钟。"
                                              : "正在排队等待人工客服：您前面还有" + (p - 1) + "位，预计等待约" + m + "分钟。"; },
          ack: "已收到您的消息，人工客服接入后会第一时间看到，请稍候。",
          unsupported: "抱歉，在线智能客服暂不支持该语言。",
          useOther: "用中文继续" },
    en: { open: "Chat", title: "12345 online service", placeholder: "Type your question…", send: "Send",
          close: "Close", reconnecting: "Connection lost, reconnecting…", inputLabel: "Your message",
          download: "Download transcript", downloadFailed: "The transcript cannot be downloaded right now.",
          mail: "Email the transcript", mailLabel: "Email address", mailSend: "Send", mailSent: "The transcript is on its way to your inbox.",
          queue: function (p, m) { return p <= 1 ? "Connecting you to an agent: you are next, about " + m + " min."
                                              : "Waiting for an agent: " + (p - 1) + " ahead of you, about " + m + " min."; },
          ack: "Message received: the agent will see it as soon as they join.",
          unsupported: "Sorry, the online assistant does not speak English yet. It answers in Chinese only; " +
                       "you can also submit a request with the form (Submit) or call 12345.",
          useOther: "Continue in Chinese (用中文继续)" }
  }[lang];
  var KEY = "hotline-chat-session", OPEN = "hotline-chat-open", LOCALE = "hotline-chat-locale";
  var store = window.sessionStorage;
  var chatLocale = store.getItem(LOCALE) || lang;  // the language messages are sent in
  var ws, retry = 0, pending = [], lastText = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  var root = el("div", "hl-chat"); root.id = "hl-chat";
  var toggle = el("button", "hl-chat-toggle", T.open); toggle.id = "hl-chat-open"; toggle.type = "button";
  var panel = el("section", "hl-chat-panel"); panel.hidden = true; panel.setAttribute("aria-label", T.title);
  var head = el("header", "hl-chat-head"); head.appendChild(el("span", "", T.title));
  var tools = el("span", "hl-chat-tools");
  var saveBtn = el("button", "hl-chat-save", "⇩"); saveBtn.type = "button"; saveBtn.id = "hl-chat-download";
  saveBtn.title = T.download; saveBtn.setAttribute("aria-label", T.download);
  var closeBtn = el("button", "hl-chat-close", "×"); closeBtn.type = "button"; closeBtn.title = T.close;
  closeBtn.setAttribute("aria-label", T.close);
  var mailBtn = el("button", "hl-chat-save", "✉"); mailBtn.type = "button"; mailBtn.id = "hl-chat-mail";
  mailBtn.title = T.mail; mailBtn.setAttribute("aria-label", T.mail); mailBtn.hidden = true;
  tools.appendChild(saveBtn); tools.appendChild(mailBtn); tools.appendChild(closeBtn); head.appendChild(tools);
  var mailForm = el("form", "hl-chat-form hl-chat-mail"); mailForm.hidden = true;
  var mailInput = el("input"); mailInput.type = "email"; mailInput.id = "hl-chat-mail-to"; mailInput.required = true;
  mailInput.setAttribute("aria-label", T.mailLabel); mailInput.placeholder = T.mailLabel; mailInput.autocomplete = "email";
  var mailSend = el("button", "", T.mailSend); mailSend.type = "submit";
  mailForm.appendChild(mailInput); mailForm.appendChild(mailSend);
  var log = el("div", "hl-chat-log"); log.id = "hl-chat-log"; log.setAttribute("aria-live", "polite");
  var status = el("div", "hl-chat-status"); status.id = "hl-chat-status"; status.setAttribute("role", "status");
  var form = el("form", "hl-chat-form");
  var input = el("input"); input.id = "hl-chat-input"; input.placeholder = T.placeholder; input.maxLength = 5000;
  input.autocomplete = "off"; input.setAttribute("aria-label", T.inputLabel);
  var send = el("button", "", T.send); send.type = "submit"; send.id = "hl-chat-send";
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(status); panel.appendChild(mailForm);
  panel.appendChild(form);
  root.appendChild(toggle); root.appendChild(panel);

  function scroll() { log.scrollTop = log.scrollHeight; }

  function add(who, text) {
    var line = el("div", "hl-msg hl-" + who, text);
    log.appendChild(line); scroll();
    return line;
  }

  function showButtons(buttons) {
    if (!buttons || !buttons.length) return;
    var row = el("div", "hl-buttons");
    buttons.forEach(function (b) {
      var btn = el("button", "hl-quick", b.title); btn.type = "button";
      btn.addEventListener("click", function () { add("me", b.title); transmit(b.payload); row.remove(); });
      row.appendChild(btn);
    });
    log.appendChild(row); scroll();
  }

  function showBot(frame) {
    if (frame.text) add(frame.type === "agent" ? "agent" : "bot", frame.text);
    showButtons(frame.buttons);
  }

  function showQueue(frame) {
    status.className = "hl-chat-status hl-queue";
    status.textContent = T.queue(frame.position || 1, Math.max(1, Math.ceil((frame.wait_s || 60) / 60)));
  }

  function replay(lines) {
    log.textContent = "";
    lines.forEach(function (line) {
      var who = line.from === "citizen" ? "me" : line.from === "agent" ? "agent" : "bot";
      if (line.text) add(who, line.text);
      showButtons(line.buttons);
    });
  }

  function transmit(text, shown) {
    lastText = text;
    var frame = JSON.stringify({ type: "message", text: text, locale: chatLocale });
    if (ws && ws.readyState === 1 && ws.replayed) ws.send(frame);
    else pending.push({ frame: frame, text: shown === undefined ? null : shown });
  }

  function unsupported() {
    add("system", T.unsupported);
    var row = el("div", "hl-buttons");
    var btn = el("button", "hl-quick", T.useOther); btn.type = "button";
    btn.addEventListener("click", function () {
      chatLocale = "zh"; store.setItem(LOCALE, "zh"); row.remove();
      if (lastText) transmit(lastText);
    });
    row.appendChild(btn); log.appendChild(row); scroll();
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/ws/chat?lang=" + lang);
    ws.onopen = function () {
      retry = 0; status.textContent = ""; status.className = "hl-chat-status";
      ws.send(JSON.stringify({ type: "hello", session: store.getItem(KEY) }));
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        store.setItem(KEY, frame.session);
        mailBtn.hidden = !frame.mail;
      } else if (frame.type === "history") {
        // the conversation so far (empty: a new one, greeted once); then what waited to be sent
        replay(frame.lines || []);
        ws.replayed = true;
        var waiting = pending; pending = [];
        if (!frame.lines || !frame.lines.length) ws.send(JSON.stringify({ type: "message", text: "/greet", locale: chatLocale }));
        waiting.forEach(function (p) { if (p.text) add("me", p.text); ws.send(p.frame); });
        root.setAttribute("data-ready", "1");
      } else if (frame.type === "bot" || frame.type === "agent") {
        if (frame.type === "agent") { status.textContent = ""; status.className = "hl-chat-status"; }
        showBot(frame);
      } else if (frame.type === "handoff" || frame.type === "queue") {
        if (frame.position) showQueue(frame);
        if (frame.ack) add("system", T.ack);
      } else if (frame.type === "unsupported_locale") {
        unsupported();
      } else if (frame.type === "error") {
        add("system", frame.message);
      }
    };
    ws.onclose = function () {
      status.textContent = T.reconnecting; status.className = "hl-chat-status";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry - 1));
    };
  }

  function openPanel() {
    panel.hidden = false; toggle.hidden = true; store.setItem(OPEN, "1");
    if (!ws) connect();
  }

  toggle.addEventListener("click", function () { openPanel(); input.focus(); });
  closeBtn.addEventListener("click", function () {
    panel.hidden = true; toggle.hidden = false; store.removeItem(OPEN);
  });
  saveBtn.addEventListener("click", function () {
    var session = store.getItem(KEY);
    if (!session) return;
    fetch("/chat/transcript?lang=" + lang, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ session: session })
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      var name = (/filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "") || [])[1] || "12345-chat.txt";
      return r.blob().then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob); a.download = name;
        document.body.appendChild(a); a.click(); a.remove();
        setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
      });
    }).catch(function () { add("system", T.downloadFailed); });
  });
  mailBtn.addEventListener("click", function () { mailForm.hidden = !mailForm.hidden; if (!mailForm.hidden) mailInput.focus(); });
  mailForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    fetch("/chat/transcript/email?lang=" + lang, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session: store.getItem(KEY), email: mailInput.value.trim() })
    }).then(function (r) { return r.json().then(function (data) { return [r.ok, data]; }); })
      .then(function (res) {
        if (res[0]) { mailForm.hidden = true; add("system", T.mailSent); return; }
        var data = res[1];
        add("system", (data.errors && (data.errors.email || data.errors.session)) || data.message || T.downloadFailed);
      }).catch(function () { add("system", T.downloadFailed); });
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (ws && ws.replayed) add("me", text);
    transmit(text, text); input.value = "";
  });

  var css = el("link"); css.rel = "stylesheet"; css.href = "/chat/widget.css";
  document.head.appendChild(css);
  document.body.appendChild(root);
  if (store.getItem(OPEN)) openPanel();  // it was open on the page before: it stays open here
})();
