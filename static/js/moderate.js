// The moderator console: the waiting queue and the list of what is public, kept live from the
// moderate socket; keyboard shortcuts; dialogs for rejecting, editing and withdrawing.
//
// Both lists are keyed: one <li> per question id (queue) and per event seq (published), created
// once and then updated in place, so a frame touches only what it changes (a 附议 count changes
// one text node) and keyboard focus and a screen reader's place survive. The lists are not live
// regions: one polite status line says what changed ("新问题 #12", "#12 已通过 由 mona").
(function () {
  "use strict";
  const root = document.getElementById("moderate");
  const id = root.dataset.broadcast;
  const t = (key) => root.dataset["i18n" + key.replace(/(^|_)(\w)/g, (m, s, c) => c.toUpperCase())] || key;
  const $ = (selector) => document.getElementById(selector);
  const queue = $("queue");
  const published = $("published");
  const conn = $("conn");
  const status = $("moderate-status");
  const entries = new Map(); // question id -> {q, li, parts}: the waiting questions
  const shown = new Map(); // event seq -> {ev, li, support}: what viewers see
  const withdrawnSeqs = new Set();
  let moderation = null;
  let selected = null;
  let sortPending = false;
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

  function send(frame) {
    frame.action_id = newId();
    moderation.send(frame, frame.action_id);
    return frame.action_id;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(label, onClick) {
    const b = el("button", "", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  const announce = (text) => (status.textContent = text);

  // --- times: the programme's time zone (<html data-time-zone>), as the live page's feed -------------

  const lang = document.documentElement.lang || undefined;
  const relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;

  function clock(iso) {
    const options = { hour: "2-digit", minute: "2-digit", timeZone: document.documentElement.dataset.timeZone };
    try {
      return new Date(iso).toLocaleTimeString(lang, options);
    } catch (unknownZone) {
      delete options.timeZone;
      return new Date(iso).toLocaleTimeString(lang, options);
    }
  }

  function ago(iso) {
    const minutes = Math.floor((Date.now() - new Date(iso).getTime()) / 60000);
    if (!relative || minutes < 1) return "";
    if (minutes < 60) return relative.format(-minutes, "minute");
    return relative.format(-Math.floor(minutes / 60), "hour");
  }

  function timeNode(iso) {
    const node = el("time", "at");
    node.dateTime = iso;
    refreshTime(node);
    return node;
  }

  function refreshTime(node) {
    const since = ago(node.dateTime);
    const text = clock(node.dateTime) + (since ? (/^zh/.test(lang || "") ? "（" + since + "）" : " (" + since + ")") : "");
    if (node.textContent !== text) node.textContent = text;
  }

  setInterval(() => document.querySelectorAll("#moderate time.at").forEach(refreshTime), 30000);

  // --- the queue ----------------------------------------------------------------------------------

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

  const plain = (html) => {
    const span = document.createElement("span");
    span.innerHTML = html;
    return span.textContent;
  };

  const supportText = (n) => (n ? " · " + n + " " + t("support") : "");

  function createItem(q) {
    // A grid's row may carry aria-selected (a list item may not); a row holds its content in a cell.
    const li = el("li");
    li.dataset.id = q.id;
    li.tabIndex = 0;
    li.setAttribute("role", "row");
    const cell = el("div");
    cell.setAttribute("role", "gridcell");
    const parts = {
      nick: el("span", "nick"),
      support: el("span", "support"),
      text: el("p", "text"),
      original: el("p", "meta original"),
      flags: el("p", "flags"),
      similar: el("p", "meta similar"),
      merge: button("", () => merge(entries.get(q.id).q)),
    };
    const who = el("p", "who");
    who.append(parts.nick, " · #" + q.id + " · ", timeNode(q.asked_at), parts.support);
    const actions = el("p", "actions");
    actions.append(
      button(t("approve"), () => approve(entries.get(q.id).q, false)),
      button(t("publish"), () => approve(entries.get(q.id).q, true)),
      button(t("reject"), () => reject(entries.get(q.id).q)),
      button(t("edit"), () => edit(entries.get(q.id).q)),
      parts.merge
    );
    cell.append(who, parts.text, parts.original, parts.flags, parts.similar, actions);
    li.appendChild(cell);
    li.addEventListener("focus", () => {
      selected = q.id;
      mark();
    });
    return { q: q, li: li, parts: parts };
  }

  // Write a question's fields into its item; only what differs is touched.
  function fill(entry) {
    const q = entry.q;
    const p = entry.parts;
    const setHTML = (node, html) => {
      if (node.innerHTML !== html) node.innerHTML = html;
      node.hidden = !html;
    };
    const setText = (node, text) => {
      if (node.textContent !== text) node.textContent = text;
      node.hidden = !text;
    };
    setHTML(p.nick, q.nickname);
    p.nick.hidden = false;
    setText(p.support, supportText(q.support));
    setHTML(p.text, highlight(q.text, q.flags));
    setHTML(p.original, q.original_text !== q.text ? t("original") + ": " + q.original_text : "");
    const flags = q.flags.map((f) => (f.startsWith("sensitive:") ? t("flag_sensitive") + " " + f.slice(10) : t("flag_" + f)));
    setText(p.flags, flags.join(" · "));
    const similar = q.similar || [];
    setText(p.similar, similar.length ? t("similar") + ": " + similar.map((s) => "#" + s).join(", ") : "");
    setText(p.merge, similar.length ? t("merge") + " #" + similar[0] : "");
  }

  function order(a, b) {
    const bySupport = $("sort").value === "support";
    return (bySupport ? b.q.support - a.q.support : 0) || a.q.id - b.q.id;
  }

  // Put the items in order by moving only those out of place (never recreating one); focus stays.
  function sortQueue() {
    if (document.querySelector("dialog[open]")) {
      sortPending = true; // not under a moderator who is writing in a dialog: after it closes
      return;
    }
    sortPending = false;
    const focused = queue.contains(document.activeElement) ? document.activeElement : null;
    [...entries.values()].sort(order).forEach((entry, index) => {
      const here = queue.children[index];
      if (here !== entry.li) queue.insertBefore(entry.li, here || null);
    });
    if (focused && document.activeElement !== focused) focused.focus({ preventScroll: true });
  }

  function counted() {
    $("count").textContent = entries.size;
    $("queue-empty").hidden = entries.size > 0;
  }

  function mark() {
    entries.forEach((entry, qid) => {
      const on = qid === selected;
      entry.li.classList.toggle("selected", on);
      entry.li.setAttribute("aria-selected", String(on));
    });
  }

  function upsert(q) {
    let entry = entries.get(q.id);
    if (!entry) {
      entry = createItem(q);
      entries.set(q.id, entry);
      if (selected === null) selected = q.id;
    }
    entry.q = q;
    fill(entry);
    return entry;
  }

  function removeItem(qid) {
    const entry = entries.get(qid);
    if (!entry) return;
    const items = [...queue.children];
    const index = items.indexOf(entry.li);
    const hadFocus = entry.li.contains(document.activeElement);
    if (selected === qid) {
      const next = items[index + 1] || items[index - 1];
      selected = next ? Number(next.dataset.id) : null;
    }
    entry.li.remove();
    entries.delete(qid);
    counted();
    mark();
    if (hadFocus) focusSelected();
  }

  function focusSelected() {
    const entry = entries.get(selected);
    if (entry) entry.li.focus();
    else {
      // The queue is empty: keep focus here (not lost to <body>); the next question takes it.
      queue.tabIndex = -1;
      queue.focus();
    }
  }

  function onQueue(questions) {
    const ids = new Set(questions.map((q) => q.id));
    [...entries.keys()].filter((qid) => !ids.has(qid)).forEach(removeItem);
    questions.forEach(upsert);
    if (selected === null && questions.length) selected = questions[0].id;
    sortQueue();
    counted();
    mark();
  }

  function onNew(q) {
    const known = entries.has(q.id);
    upsert(q);
    sortQueue();
    counted();
    mark();
    if (!known) announce(t("new_question") + " #" + q.id);
    // A question arriving into an empty queue that holds focus takes it.
    if (document.activeElement === queue && selected === q.id) focusSelected();
  }

  function onUpdated(q, by) {
    const verb = q.status === "pending" ? t("edited") : t("status_" + q.status);
    if (by) announce("#" + q.id + " " + verb + " " + t("by") + " " + by);
    if (q.status === "pending") {
      if (entries.has(q.id)) upsert(q);
    } else removeItem(q.id);
  }

  function onSupport(counts) {
    let moved = false;
    Object.entries(counts).forEach(([qid, n]) => {
      const entry = entries.get(Number(qid));
      if (entry && entry.q.support !== n) {
        entry.q.support = n;
        entry.parts.support.textContent = supportText(n);
        moved = true;
      }
      shown.forEach((item) => {
        if (item.questionId === Number(qid)) item.support.textContent = supportText(n);
      });
    });
    if (moved && $("sort").value === "support") sortQueue();
  }

  // --- what is public -----------------------------------------------------------------------------

  const WITHDRAWABLE = ["question.published", "answer.posted", "host.message"];

  // What an event is, for its label and the status line: "问题 #12", "回答 #3", "主持人".
  function describe(ev) {
    const d = ev.data;
    if (ev.kind === "question.published") return { kind: t("kind_question") + " #" + d.question.id, who: d.question.nickname, text: d.question.text, question: d.question.id };
    if (ev.kind === "answer.posted") {
      const label = d.answer.question_id ? t("kind_answer") + " → #" + d.answer.question_id : t("kind_statement");
      const guest = d.answer.guest || {};
      return { kind: label, who: [guest.name, guest.title].filter(Boolean).join(" · "), text: d.answer.text };
    }
    return { kind: t("kind_host"), who: d.message.author || "", text: d.message.text };
  }

  function createPublished(ev) {
    const about = describe(ev);
    const li = el("li", ev.kind.split(".")[0]);
    li.dataset.seq = ev.seq;
    const head = el("p", "who");
    const who = el("span", "nick");
    who.innerHTML = about.who; // escaped by the server like every text of the log
    const support = el("span", "support");
    head.append(el("strong", "kind", about.kind), " · ", who, " · ", timeNode(ev.at), support);
    const text = el("div", "text");
    text.innerHTML = about.text;
    const withdraw = button(t("withdraw"), () => confirmWithdraw(ev.seq));
    withdraw.setAttribute("aria-label", t("withdraw") + " " + about.kind);
    const actions = el("p", "actions");
    actions.appendChild(withdraw);
    li.append(head, text, actions);
    return { ev: ev, li: li, support: support, questionId: about.question, about: about, button: withdraw };
  }

  function addPublished(ev) {
    if (shown.has(ev.seq) || withdrawnSeqs.has(ev.seq)) return;
    const item = createPublished(ev);
    shown.set(ev.seq, item);
    // Newest first: before the first item with a smaller seq.
    const later = [...published.children].find((li) => Number(li.dataset.seq) < ev.seq);
    published.insertBefore(item.li, later || null);
    countPublished();
  }

  function removePublished(seq) {
    withdrawnSeqs.add(seq);
    const item = shown.get(seq);
    if (!item) return null;
    const hadFocus = item.li.contains(document.activeElement);
    const next = item.li.nextElementSibling || item.li.previousElementSibling;
    item.li.remove();
    shown.delete(seq);
    countPublished();
    if (hadFocus) (next ? next.querySelector("button") : $("published-title")).focus();
    return item;
  }

  function countPublished() {
    $("published-count").textContent = shown.size;
    $("published-empty").hidden = shown.size > 0;
  }

  function onPublic(frame) {
    const seqs = new Set(frame.events.map((ev) => ev.seq));
    [...shown.keys()].filter((seq) => !seqs.has(seq)).forEach((seq) => {
      shown.get(seq).li.remove(); // withdrawn while this console was away
      shown.delete(seq);
    });
    frame.events.forEach(addPublished);
    onSupport(frame.support || {});
    countPublished();
  }

  function onEvent(ev) {
    if (ev.kind === "withdrawn") {
      const item = removePublished(ev.data.seq);
      if (item) announce(t("withdrawn") + " " + item.about.kind);
    } else if (WITHDRAWABLE.includes(ev.kind)) addPublished(ev);
  }

  // --- dialogs ------------------------------------------------------------------------------------

  // One open dialog at a time, waiting for the ack of the frame it sent (or its error, shown in it).
  let dialog = null; // {node, ref, returnTo: () => element}

  function openDialog(node, ref, quoteHTML, returnTo) {
    node.querySelector(".dialog-ref").textContent = ref;
    const quote = node.querySelector(".dialog-quote");
    if (quote) quote.innerHTML = quoteHTML;
    node.querySelector(".dialog-error").textContent = "";
    node.querySelectorAll("button").forEach((b) => (b.disabled = false));
    dialog = { node: node, ref: null, returnTo: returnTo };
    node.showModal();
  }

  function dialogSent(actionId) {
    dialog.ref = actionId;
    dialog.node.querySelector(".dialog-error").textContent = t("sending");
    dialog.node.querySelector("button[type=submit]").disabled = true;
  }

  document.querySelectorAll("#moderate dialog").forEach((node) => {
    node.querySelector("[data-cancel]").addEventListener("click", () => node.close());
    node.addEventListener("close", () => {
      if (node.open) return; // opened again before this event ran (Esc, then the key at once)
      const returnTo = dialog && dialog.node === node ? dialog.returnTo() : null;
      dialog = null;
      if (returnTo) returnTo.focus();
      if (sortPending) sortQueue();
    });
  });

  // Focus goes back to the question (or, if it is gone meanwhile, to the one now selected).
  const backToQuestion = (qid) => () => (entries.get(qid) || entries.get(selected) || { li: queue }).li;

  function reject(q) {
    const node = $("reject-dialog");
    node.querySelectorAll("input[type=radio]").forEach((r) => (r.checked = false));
    $("reject-reason").value = "";
    openDialog(node, "#" + q.id, q.text, backToQuestion(q.id));
    node.dataset.question = q.id;
    node.querySelector("input[type=radio]").focus();
  }

  function edit(q) {
    const node = $("edit-dialog");
    $("edit-text").value = plain(q.text);
    $("edit-length").textContent = $("edit-text").value.length;
    openDialog(node, "#" + q.id, "", backToQuestion(q.id));
    node.dataset.question = q.id;
    $("edit-text").focus();
  }

  function confirmWithdraw(seq) {
    const item = shown.get(seq);
    if (!item) return;
    const node = $("withdraw-dialog");
    openDialog(node, item.about.kind, item.about.text, () => (shown.has(seq) ? shown.get(seq).button : $("published-title")));
    node.dataset.seq = seq;
    node.querySelector("[data-cancel]").focus(); // the safe choice first: withdrawing cannot be undone
  }

  $("reject-dialog").addEventListener("change", (change) => {
    if (change.target.name === "reason-choice") $("reject-reason").value = change.target.value;
  });
  $("edit-text").addEventListener("input", () => ($("edit-length").textContent = $("edit-text").value.length));

  $("reject-dialog").querySelector("form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const qid = Number($("reject-dialog").dataset.question);
    dialogSent(send({ type: "reject", question_id: qid, reason: $("reject-reason").value.trim() }));
  });
  $("edit-dialog").querySelector("form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const text = $("edit-text").value.trim();
    if (!text || text.length > 500) {
      $("edit-dialog").querySelector(".dialog-error").textContent = t("edit_length");
      return;
    }
    dialogSent(send({ type: "edit", question_id: Number($("edit-dialog").dataset.question), text: text }));
  });
  $("withdraw-dialog").querySelector("form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    dialogSent(send({ type: "withdraw", seq: Number($("withdraw-dialog").dataset.seq) }));
  });

  // --- actions and keys ---------------------------------------------------------------------------

  const approve = (q, publish) => send({ type: "approve", question_id: q.id, publish: publish });
  const merge = (q) => q.similar && q.similar.length && send({ type: "merge", question_id: q.id, into: q.similar[0] });

  function move(step) {
    const items = [...queue.children];
    if (!items.length) return;
    let index = items.findIndex((li) => Number(li.dataset.id) === selected);
    index = Math.max(0, Math.min(items.length - 1, index + step));
    items[index].focus();
  }

  document.addEventListener("keydown", (key) => {
    if (document.querySelector("dialog[open]")) return;
    if (key.target.closest && key.target.closest("input, textarea, select")) return;
    if (key.ctrlKey || key.metaKey || key.altKey) return;
    const entry = entries.get(selected);
    if (key.key === "j") move(1);
    else if (key.key === "k") move(-1);
    else if (!entry) return;
    else if (key.key === "a") approve(entry.q, false);
    else if (key.key === "p") approve(entry.q, true);
    else if (key.key === "r") reject(entry.q);
    else if (key.key === "e") edit(entry.q);
    else if (key.key === "m" && entry.q.similar && entry.q.similar.length) merge(entry.q);
    else return;
    key.preventDefault();
  });
  $("sort").addEventListener("change", sortQueue);

  // --- the socket ---------------------------------------------------------------------------------

  function settled(frame) {
    moderation.settle(frame.ref);
    if (!dialog || dialog.ref !== frame.ref) return false;
    if (frame.type === "ack") dialog.node.close();
    else {
      dialog.node.querySelector(".dialog-error").textContent = frame.message;
      dialog.node.querySelector("button[type=submit]").disabled = false;
      dialog.ref = null;
    }
    return true;
  }

  function onFrame(frame) {
    if (frame.type === "queue") onQueue(frame.questions);
    else if (frame.type === "public") onPublic(frame);
    else if (frame.type === "event") onEvent(frame);
    else if (frame.type === "question.new") onNew(frame.question);
    else if (frame.type === "question.updated") onUpdated(frame.question, frame.by);
    else if (frame.type === "support") onSupport(frame.counts);
    else if (frame.type === "ack") {
      if (!settled(frame)) $("moderate-error").textContent = ""; // an action went through: the last refusal is old news
    }
    else if (frame.type === "error") {
      if (!(frame.ref && settled(frame))) $("moderate-error").textContent = frame.message;
    }
  }

  function connection(state) {
    conn.dataset.state = state;
    conn.textContent = t("conn_" + state);
  }

  moderation = MinxinSocket.open("/ws/moderate/" + id + "/", {
    onFrame: onFrame,
    onOpen: () => connection("open"),
    // 44xx closes are final (login, permission, no such programme): say so, not "reconnecting".
    onClose: (closed) => connection(closed.code >= 4400 && closed.code < 4500 ? "closed" : "reconnecting"),
  });
  counted();
  countPublished();
})();
