// The studio console for guests and the host. Every write carries a client_id/action_id and is
// resent after a reconnect until acknowledged (socket.js), so nothing is lost or doubled.
(function () {
  "use strict";
  const root = document.getElementById("console");
  const id = root.dataset.broadcast;
  const queue = document.getElementById("queue");
  const conn = document.getElementById("conn");
  let studio = null;
  let answering = null; // the question whose answer this console sent last
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

  const send = (frame) => studio.send(frame, frame.client_id || frame.action_id);


  // Guests may start with what most people asked (附议) or take questions in order.
  function sortQueue() {
    const bySupport = document.getElementById("sort").value === "support";
    const items = [...queue.children];
    items.sort((a, b) => (bySupport ? Number(b.dataset.support) - Number(a.dataset.support) : 0) || Number(a.dataset.id) - Number(b.dataset.id));
    items.forEach((item) => queue.appendChild(item));
  }

  function addQuestion(q) {
    if (queue.querySelector('[data-id="' + q.id + '"]')) return;
    const item = document.createElement("li");
    item.dataset.id = q.id;
    item.dataset.support = q.support || 0;
    const who = document.createElement("p");
    who.className = "who";
    who.innerHTML = q.nickname; // server-escaped
    const text = document.createElement("p");
    text.className = "text";
    text.innerHTML = q.text; // server-escaped
    const label = document.createElement("label");
    label.htmlFor = "answer-" + q.id;
    label.textContent = root.dataset.i18nAnswer;
    const box = document.createElement("textarea");
    box.id = "answer-" + q.id;
    box.rows = 3;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = root.dataset.i18nAnswer;
    button.addEventListener("click", () => {
      if (!box.value.trim()) return;
      send({ type: "answer", client_id: newId(), question_id: q.id, text: box.value });
      answering = q.id;
      button.disabled = true;
    });
    const support = document.createElement("span");
    support.className = "meta support";
    support.textContent = root.dataset.i18nSupport + " " + (q.support || 0);
    who.append(" ", support);
    item.append(who, text, label, box, button);
    queue.appendChild(item);
    sortQueue();
  }

  function onFrame(frame) {
    if (frame.type === "queue") {
      queue.innerHTML = "";
      frame.questions.forEach(addQuestion);
    } else if (frame.type === "question.approved") {
      addQuestion(frame.question);
    } else if (frame.type === "question.answered") {
      const item = queue.querySelector('[data-id="' + frame.question_id + '"]');
      if (item) {
        // Whoever was working in this question (its button is disabled once sent) moves on to the
        // next question's answer box, or to the queue's heading: focus is never lost to <body>.
        const lost = document.activeElement === document.body && answering === frame.question_id;
        const wasHere = item.contains(document.activeElement) || lost;
        const next = item.nextElementSibling || item.previousElementSibling;
        item.remove();
        if (wasHere) (next ? next.querySelector("textarea") : document.getElementById("queue-title")).focus();
      }
    } else if (frame.type === "support") {
      Object.entries(frame.counts).forEach(([qid, n]) => {
        const item = queue.querySelector('[data-id="' + qid + '"]');
        if (!item) return;
        item.dataset.support = n;
        item.querySelector(".support").textContent = root.dataset.i18nSupport + " " + n;
      });
      sortQueue();
    } else if (frame.type === "ack") {
      if (studio.settle(frame.ref)) document.getElementById("console-status").textContent = root.dataset.i18nSent;
    } else if (frame.type === "error") {
      document.getElementById("console-error").textContent = frame.message;
      if (frame.ref) studio.settle(frame.ref);
    }
  }

  const bind = (elementId, handler) => {
    const node = document.getElementById(elementId);
    if (node) node.addEventListener("click", handler);
  };
  document.getElementById("sort").addEventListener("change", sortQueue);
  bind("start", () => send({ type: "start", action_id: newId() }));
  bind("end", () => send({ type: "end", action_id: newId() }));
  bind("host-send", () => {
    const box = document.getElementById("host-text");
    if (box.value.trim()) send({ type: "host.message", client_id: newId(), text: box.value });
    box.value = "";
  });
  bind("statement-send", () => {
    const box = document.getElementById("statement");
    if (box.value.trim()) send({ type: "answer", client_id: newId(), question_id: null, text: box.value });
    box.value = "";
  });
  studio = MinxinSocket.open("/ws/studio/" + id + "/", {
    onFrame: onFrame,
    onOpen: () => (conn.textContent = "✓"),
    onClose: () => (conn.textContent = "…"),
  });
})();
