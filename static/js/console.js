// The studio console for guests and the host. Every write carries a client_id/action_id and is
// resent after a reconnect until acknowledged (socket.js), so nothing is lost or doubled.
// Each role sees only what it may do: a guest types answers and statements; the host starts and
// ends the programme, posts messages and records answers a guest gave by voice on air.
(function () {
  "use strict";
  const root = document.getElementById("console");
  const id = root.dataset.broadcast;
  const isHost = root.dataset.host === "1";
  const isGuest = root.dataset.guest === "1";
  const queue = document.getElementById("queue");
  const conn = document.getElementById("conn");
  // The connection in words, and its state for the shared look (site.css #conn[data-state]).
  const showConnection = (state, words) => {
    conn.dataset.state = state;
    conn.textContent = words;
  };
  const statusLine = document.getElementById("console-status");
  const errorLine = document.getElementById("console-error");
  const t = (key) => root.dataset["i18n" + key.charAt(0).toUpperCase() + key.slice(1)];
  let studio = null;
  let status = root.dataset.status;
  let answering = null; // the question whose answer this console sent last
  let onAir = null; // {question_id, client_id} while the on-air dialog waits for its ack
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

  const send = (frame) => studio.send(frame, frame.client_id || frame.action_id);

  // A status or error line says something about the last action only: it goes when the next
  // action succeeds, or after a while, so an old message is never read as a new one.
  const timers = new Map();
  function say(node, text, ms) {
    clearTimeout(timers.get(node));
    node.textContent = text;
    if (text) timers.set(node, setTimeout(() => (node.textContent = ""), ms));
  }
  const succeeded = (text) => {
    say(errorLine, "", 0);
    say(statusLine, text, 5000);
  };
  const failed = (text) => {
    say(statusLine, "", 0);
    say(errorLine, text, 15000);
  };

  // The programme's status drives what can still be done: after the end nothing but the links.
  function applyStatus(next) {
    status = next;
    root.dataset.status = next;
    document.getElementById("status").textContent = t(next);
    const ended = next === "ended";
    document.getElementById("work").hidden = ended;
    document.getElementById("ended").hidden = !ended;
    const start = document.getElementById("start");
    const end = document.getElementById("end");
    if (start) start.disabled = next !== "scheduled";
    if (end) end.disabled = next !== "live";
    if (ended) {
      queue.innerHTML = ""; // what is left became letters to the department
      document.querySelectorAll("dialog[open]").forEach((dialog) => dialog.close("cancel"));
    }
  }

  // Guests may start with what most people asked (附议) or take questions in order.
  function sortQueue() {
    const bySupport = document.getElementById("sort").value === "support";
    const items = [...queue.children];
    items.sort((a, b) => (bySupport ? Number(b.dataset.support) - Number(a.dataset.support) : 0) || Number(a.dataset.id) - Number(b.dataset.id));
    items.forEach((item) => queue.appendChild(item));
  }

  function answerBox(q, item) {
    const label = document.createElement("label");
    label.htmlFor = "answer-" + q.id;
    label.textContent = t("answer");
    const box = document.createElement("textarea");
    box.id = "answer-" + q.id;
    box.rows = 3;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = t("answer");
    button.addEventListener("click", () => {
      if (!box.value.trim()) return;
      const frame = { type: "answer", client_id: newId(), question_id: q.id, text: box.value };
      if (!studio.fits(frame)) return failed(t("tooBig")); // the text stays, to be shortened
      send(frame);
      answering = q.id;
      button.disabled = true;
    });
    item.append(label, box, button);
  }

  function onAirButton(q, item) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "on-air";
    button.textContent = t("onAir");
    button.addEventListener("click", () => openOnAir(q, item));
    item.append(button);
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
    const support = document.createElement("span");
    support.className = "meta support";
    support.textContent = t("support") + " " + (q.support || 0);
    who.append(" ", support);
    item.append(who, text);
    if (isGuest) answerBox(q, item);
    if (isHost && root.dataset.onAir === "1") onAirButton(q, item);
    queue.appendChild(item);
    sortQueue();
  }

  function dropQuestion(questionId) {
    const item = queue.querySelector('[data-id="' + questionId + '"]');
    if (!item) return;
    // Whoever was working in this question (its button is disabled once sent) moves on to the
    // next question's first control, or to the queue's heading: focus is never lost to <body>.
    const lost = document.activeElement === document.body && answering === questionId;
    const wasHere = item.contains(document.activeElement) || lost;
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    if (wasHere) (next ? next.querySelector("textarea, button") : document.getElementById("queue-title")).focus();
  }

  // --- the host: answers given by voice on air, and the end of the programme ---------------
  const onAirDialog = document.getElementById("on-air-dialog");
  const onAirError = document.getElementById("on-air-error");

  function openOnAir(q, item) {
    onAir = { question_id: q.id, client_id: null };
    document.getElementById("on-air-question").innerHTML = item.querySelector(".text").innerHTML;
    document.getElementById("on-air-summary").value = "";
    document.getElementById("on-air-send").disabled = false;
    onAirError.textContent = "";
    onAirDialog.showModal();
    document.getElementById("on-air-summary").focus();
  }

  if (onAirDialog) {
    document.getElementById("on-air-summary").addEventListener("input", () => (onAirError.textContent = ""));
    // The dialog stays open until the server has the summary, so a refusal loses nothing.
    document.getElementById("on-air-form").addEventListener("submit", (event) => {
      if (!event.submitter || event.submitter.value !== "send") return;
      event.preventDefault();
      const summary = document.getElementById("on-air-summary");
      if (!summary.value.trim()) {
        onAirError.textContent = t("onAirEmpty");
        summary.focus();
        return;
      }
      onAir.client_id = onAir.client_id || newId();
      document.getElementById("on-air-send").disabled = true;
      send({
        type: "answer",
        client_id: onAir.client_id,
        question_id: onAir.question_id,
        text: summary.value,
        on_air: true,
        guest_id: Number(document.getElementById("on-air-guest").value),
      });
    });
    onAirDialog.addEventListener("close", () => {
      const questionId = onAir && onAir.question_id;
      onAir = null;
      // Back to the question's button; if it has gone (answered), to the next one or the heading.
      const button = (questionId && queue.querySelector('[data-id="' + questionId + '"] button')) || queue.querySelector("button");
      (button || document.getElementById("queue-title")).focus();
    });
  }

  const endDialog = document.getElementById("end-dialog");
  if (endDialog) {
    endDialog.addEventListener("close", () => {
      if (endDialog.returnValue === "end") {
        document.getElementById("end").disabled = true;
        send({ type: "end", action_id: newId() });
      } else if (status === "live") {
        document.getElementById("end").focus();
      }
    });
  }

  function onAck(frame) {
    if (!studio.settle(frame.ref)) return;
    if (onAir && onAir.client_id === frame.ref) {
      onAirDialog.close("sent");
      succeeded(t("onAirSent"));
    } else {
      succeeded(t("sent"));
    }
  }

  function onError(frame) {
    if (frame.ref) studio.settle(frame.ref);
    if (onAir && frame.ref && onAir.client_id === frame.ref) {
      onAir.client_id = null; // a corrected summary is a new request
      onAirError.textContent = frame.message;
      document.getElementById("on-air-send").disabled = false;
      return;
    }
    failed(frame.message);
    applyStatus(status); // a refused start or end gives its button back
    queue.querySelectorAll("button:disabled").forEach((button) => (button.disabled = false));
  }

  function onFrame(frame) {
    if (frame.type === "queue") {
      queue.innerHTML = "";
      if (status !== "ended") frame.questions.forEach(addQuestion);
    } else if (frame.type === "status") {
      applyStatus(frame.status);
    } else if (frame.type === "question.approved") {
      if (status !== "ended") addQuestion(frame.question);
    } else if (frame.type === "question.answered") {
      dropQuestion(frame.question_id);
    } else if (frame.type === "support") {
      Object.entries(frame.counts).forEach(([qid, n]) => {
        const item = queue.querySelector('[data-id="' + qid + '"]');
        if (!item) return;
        item.dataset.support = n;
        item.querySelector(".support").textContent = t("support") + " " + n;
      });
      sortQueue();
    } else if (frame.type === "ack") {
      onAck(frame);
    } else if (frame.type === "error") {
      onError(frame);
    }
  }

  const bind = (elementId, handler) => {
    const node = document.getElementById(elementId);
    if (node) node.addEventListener("click", handler);
  };
  document.getElementById("sort").addEventListener("change", sortQueue);
  bind("start", () => {
    document.getElementById("start").disabled = true;
    send({ type: "start", action_id: newId() });
  });
  bind("end", () => {
    endDialog.returnValue = "";
    endDialog.showModal();
    document.getElementById("end-cancel").focus(); // the safe choice first
  });
  bind("host-send", () => {
    const box = document.getElementById("host-text");
    const frame = { type: "host.message", client_id: newId(), text: box.value };
    if (!box.value.trim()) return;
    if (!studio.fits(frame)) return failed(t("tooBig")); // the text stays, to be shortened
    send(frame);
    box.value = "";
  });
  bind("statement-send", () => {
    const box = document.getElementById("statement");
    const frame = { type: "answer", client_id: newId(), question_id: null, text: box.value };
    if (!box.value.trim()) return;
    if (!studio.fits(frame)) return failed(t("tooBig")); // the text stays, to be shortened
    send(frame);
    box.value = "";
  });
  studio = MinxinSocket.open("/ws/studio/" + id + "/", {
    onFrame: onFrame,
    onOpen: () => showConnection("open", t("connected")),
    onClose: () => showConnection("reconnecting", t("reconnecting")),
    onTooBig: () => failed(t("tooBig")),
  });
})();
