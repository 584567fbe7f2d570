// The moderator console: the waiting queue, live updates from other moderators, keyboard shortcuts.
(function () {
  "use strict";
  const root = document.getElementById("moderate");
  const id = root.dataset.broadcast;
  const t = (key) => root.dataset["i18n" + key.replace(/(^|_)(\w)/g, (m, s, c) => c.toUpperCase())] || key;
  const queue = document.getElementById("queue");
  const conn = document.getElementById("conn");
  const questions = new Map(); // id -> question
  let moderation = null;
  let selected = null;
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

  function send(frame) {
    frame.action_id = newId();
    moderation.send(frame, frame.action_id);
  }


  // The server's escaping (Python's html.escape), so a flagged word matches the escaped text.
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" };

  // Highlight the flagged words inside already-escaped HTML (the words are escaped the same way).
  function highlight(html, flags) {
    let out = html;
    flags.filter((f) => f.startsWith("sensitive:")).forEach((f) => {
      const word = f.slice(10).replace(/[&<>"']/g, (c) => ESCAPES[c]);
      if (word) out = out.split(word).join("<mark>" + word + "</mark>");
    });
    return out;
  }

  function button(label, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function render() {
    const sortBy = document.getElementById("sort").value;
    const items = [...questions.values()].filter((q) => q.status === "pending");
    items.sort((a, b) => (sortBy === "support" ? b.support - a.support : 0) || a.id - b.id);
    // Re-rendering replaces the items: keep keyboard focus on the selected one.
    const hadFocus = queue.contains(document.activeElement);
    queue.innerHTML = "";
    items.forEach((q) => {
      const li = document.createElement("li");
      li.dataset.id = q.id;
      li.tabIndex = 0;
      li.setAttribute("aria-selected", String(q.id === selected));
      if (q.id === selected) li.className = "selected";
      const head = document.createElement("p");
      head.className = "who";
      head.innerHTML = q.nickname + " · #" + q.id + (q.support ? " · " + q.support + " " + t("support") : "");
      const text = document.createElement("p");
      text.className = "text";
      text.innerHTML = highlight(q.text, q.flags);
      li.append(head, text);
      if (q.original_text !== q.text) {
        const orig = document.createElement("p");
        orig.className = "meta";
        orig.innerHTML = t("original") + ": " + q.original_text;
        li.appendChild(orig);
      }
      if (q.flags.length) {
        const flags = document.createElement("p");
        flags.className = "flags";
        flags.textContent = q.flags.map((f) => (f.startsWith("sensitive:") ? t("flag_sensitive") + " " + f.slice(10) : t("flag_" + f))).join(" · ");
        li.appendChild(flags);
      }
      if (q.similar && q.similar.length) {
        const sim = document.createElement("p");
        sim.className = "meta similar";
        sim.textContent = t("similar") + ": " + q.similar.map((s) => "#" + s).join(", ");
        li.appendChild(sim);
      }
      const actions = document.createElement("p");
      actions.append(
        button(t("approve"), () => approve(q, false)),
        button(t("publish"), () => approve(q, true)),
        button(t("reject"), () => reject(q)),
        button(t("edit"), () => edit(q))
      );
      if (q.similar && q.similar.length) actions.append(button(t("merge") + " #" + q.similar[0], () => merge(q)));
      li.appendChild(actions);
      // A grid's row may carry aria-selected (a list item may not); a row holds its content in a cell.
      li.setAttribute("role", "row");
      const cell = document.createElement("div");
      cell.setAttribute("role", "gridcell");
      cell.append(...li.childNodes);
      li.appendChild(cell);
      li.addEventListener("focus", () => { selected = q.id; mark(); });
      queue.appendChild(li);
    });
    document.getElementById("count").textContent = items.length;
    if (hadFocus) {
      const current = queue.querySelector('[data-id="' + selected + '"]') || queue.querySelector("li");
      if (current) current.focus();
      else {
        // The queue is empty: keep focus here (not lost to <body>); the next question takes it.
        queue.tabIndex = -1;
        queue.focus();
      }
    }
  }

  function mark() {
    queue.querySelectorAll("li").forEach((li) => {
      const on = Number(li.dataset.id) === selected;
      li.classList.toggle("selected", on);
      li.setAttribute("aria-selected", String(on));
    });
  }

  const approve = (q, publish) => send({ type: "approve", question_id: q.id, publish: publish });
  const merge = (q) => send({ type: "merge", question_id: q.id, into: q.similar[0] });
  function reject(q) {
    const reason = window.prompt(t("reason"), "");
    if (reason !== null) send({ type: "reject", question_id: q.id, reason: reason });
  }
  function edit(q) {
    const span = document.createElement("span");
    span.innerHTML = q.text;
    const text = window.prompt(t("edit"), span.textContent);
    if (text !== null && text.trim()) send({ type: "edit", question_id: q.id, text: text });
  }

  function move(step) {
    const items = [...queue.querySelectorAll("li")];
    if (!items.length) return;
    let index = items.findIndex((li) => Number(li.dataset.id) === selected);
    index = Math.max(0, Math.min(items.length - 1, index + step));
    items[index].focus();
  }

  document.addEventListener("keydown", (key) => {
    if (key.target.closest && key.target.closest("input, textarea, select")) return;
    if (key.ctrlKey || key.metaKey || key.altKey) return;
    const q = questions.get(selected);
    if (key.key === "j") move(1);
    else if (key.key === "k") move(-1);
    else if (!q) return;
    else if (key.key === "a") approve(q, false);
    else if (key.key === "p") approve(q, true);
    else if (key.key === "r") reject(q);
    else if (key.key === "e") edit(q);
    else if (key.key === "m" && q.similar && q.similar.length) merge(q);
    else return;
    key.preventDefault();
  });
  document.getElementById("sort").addEventListener("change", render);

  function afterRemoval(goneId) {
    if (selected !== goneId) return;
    const items = [...queue.querySelectorAll("li")].map((li) => Number(li.dataset.id));
    const index = items.indexOf(goneId);
    selected = items[index + 1] || items[index - 1] || null;
  }

  function onFrame(frame) {
    if (frame.type === "queue") {
      questions.clear();
      frame.questions.forEach((q) => questions.set(q.id, q));
      if (selected === null && frame.questions.length) selected = frame.questions[0].id;
      render();
    } else if (frame.type === "question.new") {
      questions.set(frame.question.id, frame.question);
      if (selected === null) selected = frame.question.id;
      render();
    } else if (frame.type === "question.updated") {
      if (frame.question.status !== "pending") afterRemoval(frame.question.id);
      questions.set(frame.question.id, frame.question);
      if (frame.by) document.getElementById("moderate-status").textContent = "#" + frame.question.id + " " + t("status_" + frame.question.status) + " " + t("by") + " " + frame.by;
      render();
      const li = queue.querySelector('[data-id="' + selected + '"]');
      if (li && document.activeElement && document.activeElement.closest && document.activeElement.closest("#queue")) li.focus();
    } else if (frame.type === "support") {
      Object.entries(frame.counts).forEach(([qid, n]) => {
        const q = questions.get(Number(qid));
        if (q) q.support = n;
      });
      render();
    } else if (frame.type === "ack") {
      moderation.settle(frame.ref);
    } else if (frame.type === "error") {
      document.getElementById("moderate-error").textContent = frame.message;
      if (frame.ref) moderation.settle(frame.ref);
    }
  }

  moderation = MinxinSocket.open("/ws/moderate/" + id + "/", {
    onFrame: onFrame,
    onOpen: () => (conn.textContent = "✓"),
    onClose: () => (conn.textContent = "…"),
  });
})();
