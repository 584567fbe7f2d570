// The live page: follow the programme's event log over a WebSocket, resume after any drop,
// and ask questions that survive reconnects (each carries a client_id the server dedupes on).
(function () {
  "use strict";
  const root = document.getElementById("live");
  const id = root.dataset.broadcast;
  const t = (key) => root.dataset["i18n" + key.charAt(0).toUpperCase() + key.slice(1)] || key;
  const feed = document.getElementById("feed");
  const mine = document.getElementById("mine");
  const conn = document.getElementById("conn");
  const storeKey = "minxin.asks." + id;
  let lastSeq = 0;
  let socket = null;
  let backoff = 500;
  // Asks not yet acknowledged, resent on every (re)connect: {client_id: {text, nickname}}.
  const unsent = {};
  const asked = JSON.parse(localStorage.getItem(storeKey) || "{}");

  function el(tag, cls, html) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (html !== undefined) node.innerHTML = html; // server-sanitised HTML only
    return node;
  }

  function render(ev) {
    const d = ev.data;
    let item = null;
    if (ev.kind === "question.published") {
      item = el("li", "question");
      item.appendChild(el("span", "who", d.question.nickname + " " + t("asks")));
      item.appendChild(el("p", "text", d.question.text));
      item.dataset.question = d.question.id;
      const support = el("button", "support");
      support.type = "button";
      support.dataset.count = "0";
      support.textContent = t("support") + " 0";
      support.addEventListener("click", () => {
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ type: "support", question_id: d.question.id }));
          support.disabled = true;
        }
      });
      item.appendChild(support);
    } else if (ev.kind === "answer.posted") {
      item = el("li", "answer");
      item.appendChild(el("span", "who", "")).textContent = d.answer.guest.name + " " + d.answer.guest.title;
      item.appendChild(el("div", "text", d.answer.text));
      if (d.answer.question_id) item.dataset.answers = d.answer.question_id;
    } else if (ev.kind === "host.message") {
      item = el("li", "host");
      item.appendChild(el("span", "who", "")).textContent = t("host") + " " + d.message.author;
      item.appendChild(el("div", "text", d.message.text));
    } else if (ev.kind === "broadcast.status") {
      document.getElementById("status").textContent = t(d.status);
    } else if (ev.kind === "withdrawn") {
      const gone = feed.querySelector('[data-seq="' + d.seq + '"]');
      if (gone) gone.remove();
    }
    if (item) {
      item.dataset.seq = ev.seq;
      const time = el("time", "at");
      time.dateTime = ev.at;
      time.textContent = new Date(ev.at).toLocaleTimeString();
      item.prepend(time);
      feed.appendChild(item);
    }
  }

  function showMine(questionId, status, text, reason) {
    let item = mine.querySelector('[data-id="' + questionId + '"]');
    if (!item) {
      item = el("li");
      item.dataset.id = questionId;
      item.appendChild(el("span", "text"));
      item.appendChild(el("span", "badge"));
      mine.appendChild(item);
    }
    if (text) item.querySelector(".text").innerHTML = text;
    item.querySelector(".badge").textContent = t(status) + (reason ? "：" + reason : "");
    item.dataset.status = status;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const query = "?after=" + lastSeq + (Object.keys(asked).length ? "&mine=1" : "");
    socket = new WebSocket(scheme + location.host + "/ws/live/" + id + "/" + query);
    socket.onopen = () => {
      backoff = 500;
      conn.textContent = t("connected");
      for (const [clientId, ask] of Object.entries(unsent)) send(clientId, ask);
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "event") {
        if (frame.seq <= lastSeq) return;
        lastSeq = frame.seq;
        render(frame);
      } else if (frame.type === "hello") {
        document.getElementById("online").textContent = frame.online;
      } else if (frame.type === "presence") {
        document.getElementById("online").textContent = frame.online;
      } else if (frame.type === "ask.ok") {
        const ask = unsent[frame.ref];
        delete unsent[frame.ref];
        asked[frame.question_id] = true;
        localStorage.setItem(storeKey, JSON.stringify(asked));
        showMine(frame.question_id, frame.status, ask ? escapeText(ask.text) : null);
        const pending = mine.querySelector('[data-ref="' + frame.ref + '"]');
        if (pending) pending.remove();
      } else if (frame.type === "support") {
        Object.entries(frame.counts).forEach(([qid, n]) => setSupport(qid, n));
      } else if (frame.type === "support.ok") {
        setSupport(frame.question_id, frame.support);
      } else if (frame.type === "my_question") {
        showMine(frame.question_id, frame.status, null, frame.reason);
      } else if (frame.type === "error") {
        document.getElementById("ask-error").textContent = frame.message;
        if (frame.ref && unsent[frame.ref]) {
          delete unsent[frame.ref];
          const pending = mine.querySelector('[data-ref="' + frame.ref + '"]');
          if (pending) pending.remove();
        }
      }
    };
    socket.onclose = (closed) => {
      conn.textContent = t("reconnecting");
      if (closed.code === 4404) return;
      setTimeout(connect, backoff + Math.random() * backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  function setSupport(questionId, count) {
    const button = feed.querySelector('[data-question="' + questionId + '"] .support');
    if (button) button.textContent = t("support") + " " + count;
  }

  function escapeText(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function send(clientId, ask) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "ask", client_id: clientId, text: ask.text, nickname: ask.nickname }));
    }
  }

  document.getElementById("ask-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const box = document.getElementById("question");
    const text = box.value.trim();
    if (!text) return;
    const clientId = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    const ask = { text: text, nickname: document.getElementById("nickname").value.trim() };
    unsent[clientId] = ask;
    const pending = el("li");
    pending.dataset.ref = clientId;
    pending.textContent = text + " — " + t("sending");
    mine.appendChild(pending);
    document.getElementById("ask-error").textContent = "";
    box.value = "";
    send(clientId, ask);
  });

  fetch("/api/broadcasts/" + id + "/my-questions/", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((body) => body.questions.forEach((q) => showMine(q.question_id, q.status, q.text, q.reason)))
    .catch(() => {});
  connect();
})();
