/* 12345 web chat widget: plain JavaScript, no dependencies. Include it on any page with
   <script src="/chat/widget.js" defer></script>. Texts are rendered as text (never HTML),
   the session id survives reloads (localStorage), and a dropped connection is retried with backoff. */
(function () {
  "use strict";
  var lang = (document.documentElement.lang || "zh").slice(0, 2) === "en" ? "en" : "zh";
  var T = {
    zh: { open: "在线客服", title: "12345 在线客服", placeholder: "请输入您的问题…", send: "发送",
          close: "关闭", reconnecting: "连接中断，正在重新连接…", handoff: "正在为您转接人工客服，请稍候。",
          hello: "你好" },
    en: { open: "Chat", title: "12345 online service", placeholder: "Type your question…", send: "Send",
          close: "Close", reconnecting: "Connection lost, reconnecting…", handoff: "Connecting you to an agent…",
          hello: "你好" }
  }[lang];
  var KEY = "hotline-chat-session";
  var ws, retry = 0, queue = [], started = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  var root = el("div", "hl-chat"); root.id = "hl-chat";
  var toggle = el("button", "hl-chat-toggle", T.open); toggle.id = "hl-chat-open"; toggle.type = "button";
  var panel = el("section", "hl-chat-panel"); panel.hidden = true; panel.setAttribute("aria-label", T.title);
  var head = el("header", "hl-chat-head", T.title);
  var closeBtn = el("button", "hl-chat-close", "×"); closeBtn.type = "button"; closeBtn.title = T.close;
  head.appendChild(closeBtn);
  var log = el("div", "hl-chat-log"); log.id = "hl-chat-log"; log.setAttribute("aria-live", "polite");
  var status = el("div", "hl-chat-status");
  var form = el("form", "hl-chat-form");
  var input = el("input"); input.id = "hl-chat-input"; input.placeholder = T.placeholder; input.maxLength = 5000;
  input.autocomplete = "off";
  var send = el("button", "", T.send); send.type = "submit"; send.id = "hl-chat-send";
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(status); panel.appendChild(form);
  root.appendChild(toggle); root.appendChild(panel);

  function scroll() { log.scrollTop = log.scrollHeight; }

  function add(who, text) {
    var line = el("div", "hl-msg hl-" + who, text);
    log.appendChild(line); scroll();
    return line;
  }

  function showBot(frame) {
    if (frame.text) add(frame.type === "agent" ? "agent" : "bot", frame.text);
    var buttons = frame.buttons || [];
    if (buttons.length) {
      var row = el("div", "hl-buttons");
      buttons.forEach(function (b) {
        var btn = el("button", "hl-quick", b.title); btn.type = "button";
        btn.addEventListener("click", function () { add("me", b.title); transmit(b.payload); row.remove(); });
        row.appendChild(btn);
      });
      log.appendChild(row); scroll();
    }
  }

  function transmit(text) {
    var frame = JSON.stringify({ type: "message", text: text });
    if (ws && ws.readyState === 1) ws.send(frame); else queue.push(frame);
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/ws/chat?lang=" + lang);
    ws.onopen = function () {
      retry = 0; status.textContent = "";
      ws.send(JSON.stringify({ type: "hello", session: localStorage.getItem(KEY) }));
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        localStorage.setItem(KEY, frame.session);
        while (queue.length) ws.send(queue.shift());
        if (!started) { started = true; transmit("/greet"); }
      } else if (frame.type === "bot" || frame.type === "agent") {
        showBot(frame);
      } else if (frame.type === "handoff") {
        add("system", T.handoff);
      } else if (frame.type === "error") {
        add("system", frame.message);
      }
    };
    ws.onclose = function () {
      status.textContent = T.reconnecting;
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry - 1));
    };
  }

  toggle.addEventListener("click", function () {
    panel.hidden = false; toggle.hidden = true;
    if (!ws) connect();
    input.focus();
  });
  closeBtn.addEventListener("click", function () { panel.hidden = true; toggle.hidden = false; });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    add("me", text); transmit(text); input.value = "";
  });

  var css = el("link"); css.rel = "stylesheet"; css.href = "/chat/widget.css";
  document.head.appendChild(css);
  document.body.appendChild(root);
})();
