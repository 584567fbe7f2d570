// The live page: follow the programme's event log over a WebSocket, resume after any drop
// (?after=<last seq seen>), and ask questions that survive reconnects (each carries a client_id
// the server dedupes on). Events are drawn by feed.js, the socket is socket.js's.
(function () {
  "use strict";
  const root = document.getElementById("live");
  const id = root.dataset.broadcast;
  const t = MinxinFeed.words(root);
  const el = MinxinFeed.el;
  const feed = document.getElementById("feed");
  const mine = document.getElementById("mine");
  const conn = document.getElementById("conn");
  // The connection in words, and its state for the shared look (site.css #conn[data-state]).
  const showConnection = (state, words) => {
    conn.dataset.state = state;
    conn.textContent = words;
  };
  const storeKey = "minxin.asks." + id;
  const asked = JSON.parse(localStorage.getItem(storeKey) || "{}");
  let lastSeq = 0;
  let live = null;
  // 附议 as this page knows it: counts only grow, so the larger of what the supports endpoint
  // said on load and what the socket said since is the right one, whichever came first.
  const counts = {};
  const supported = new Set();
  const ended = () => root.dataset.status === "ended";

  const feedOptions = {
    t: t,
    onStatus: (status) => {
      document.getElementById("status").textContent = t(status);
      root.dataset.status = status;
      if (status === "ended") {
        // No more questions: the replay and transcript links take the form's place, and the
        // 附议 counts are final.
        document.getElementById("ask-form").hidden = true;
        document.getElementById("ended").hidden = false;
        feed.querySelectorAll("button.support").forEach((button) => (button.disabled = true));
        // The player's 直播 badge goes with the programme (the stream itself plays on, if it does).
        document.querySelectorAll(".player-badge").forEach((badge) => (badge.hidden = true));
      }
    },
    onSupport: (questionId, button) => {
      button.disabled = true;
      withIdentity(() => {
        if (!live.send({ type: "support", question_id: questionId })) button.disabled = false;
      });
    },
    support: (questionId) => ({ count: counts[questionId] || 0, mine: supported.has(String(questionId)) }),
  };
  const rearrange = MinxinFeed.views(feed, document.getElementById("views"), t);
  let arranging = false;
  function arrangeSoon() {
    // Once per frame, however many events a catch-up brings at once.
    if (arranging) return;
    arranging = true;
    requestAnimationFrame(() => {
      arranging = false;
      rearrange();
    });
  }

  function showMine(questionId, status, text, reason, letter) {
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
    if (letter && !item.querySelector(".letter")) {
      // Unanswered when the programme ended, it became a letter to the department: this browser
      // follows (and rates) it on the tracking page without a key.
      const link = el("a", "letter");
      link.href = "/letters/track/?code=" + encodeURIComponent(letter.code);
      link.textContent = t("letter") + " " + letter.code;
      item.appendChild(document.createTextNode(" "));
      item.appendChild(link);
      item.querySelector(".badge").textContent = t("letter_" + letter.status);
    }
  }

  function dropPending(ref) {
    const pending = mine.querySelector('[data-ref="' + ref + '"]');
    if (pending) pending.remove();
  }

  function setSupport(questionId, count, mine) {
    const key = String(questionId);
    counts[key] = Math.max(counts[key] || 0, count);
    if (mine) supported.add(key);
    const item = feed.querySelector('li.question[data-question="' + key + '"]');
    if (item) {
      MinxinFeed.showSupport(item, counts[key], supported.has(key), t);
      if (ended()) item.querySelector(".support").disabled = true;
    }
    arrangeSoon();
  }

  function escapeText(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function onFrame(frame) {
    if (frame.type === "event") {
      if (frame.seq <= lastSeq) return;
      lastSeq = frame.seq;
      const item = MinxinFeed.render(feed, frame, feedOptions);
      if (item && ended()) item.querySelectorAll("button.support").forEach((b) => (b.disabled = true));
      arrangeSoon();
    } else if (frame.type === "hello" || frame.type === "presence") {
      document.getElementById("online").textContent = frame.online;
    } else if (frame.type === "ask.ok") {
      const ask = live.settle(frame.ref);
      asked[frame.question_id] = true;
      localStorage.setItem(storeKey, JSON.stringify(asked));
      showMine(frame.question_id, frame.status, ask ? escapeText(ask.text) : null);
      dropPending(frame.ref);
    } else if (frame.type === "support") {
      Object.entries(frame.counts).forEach(([qid, n]) => setSupport(qid, n));
    } else if (frame.type === "support.ok") {
      setSupport(frame.question_id, frame.support, true);
    } else if (frame.type === "my_question") {
      showMine(frame.question_id, frame.status, null, frame.reason);
    } else if (frame.type === "error") {
      document.getElementById("ask-error").textContent = frame.message;
      const refused = frame.ref ? live.settle(frame.ref) : null;
      if (refused) {
        dropPending(frame.ref);
        // Nothing typed is lost: a refused question goes back into the empty box (focus stays put).
        const box = document.getElementById("question");
        if (refused.type === "ask" && !box.value) box.value = refused.text;
      }
    }
  }

  document.getElementById("ask-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const box = document.getElementById("question");
    const text = box.value.trim();
    if (!text) return;
    // PIPL: nothing is sent before the netizen has agreed to the notice above the button.
    const consent = document.getElementById("consent");
    document.getElementById("consent-error").textContent = consent.checked ? "" : t("consent");
    if (!consent.checked) {
      consent.focus();
      return;
    }
    const clientId = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    const pending = el("li");
    pending.dataset.ref = clientId;
    pending.textContent = text + " — " + t("sending");
    mine.appendChild(pending);
    document.getElementById("ask-error").textContent = "";
    box.value = "";
    const nickname = document.getElementById("nickname").value.trim();
    const frame = { type: "ask", client_id: clientId, text: text, nickname: nickname, consent: true };
    if (identified) {
      live.send(frame, clientId);
    } else if (live.hold(frame, clientId)) {
      // Kept for its ack now, so that nothing typed is lost whatever happens next; it goes with
      // the socket that carries the identity (or with this one, if none could be had).
      withIdentity(() => live.flush());
    }
  });

  // This browser's identity (core/netizens.py): the page and the counts are the same for everyone
  // and bring none, so that the thousands who only watch cost the server nothing personal. Before
  // the first question or 附议 the page asks for one (a signed cookie) and reopens its socket, whose
  // handshake reads it; from then on its questions and 附议 follow it across reloads. If that fails
  // the frame still goes, on this socket's own id.
  let identified = false;
  let identifying = null;
  function withIdentity(send) {
    if (identified) return send();
    if (!identifying) {
      identifying = fetch("/api/netizen/", { credentials: "same-origin" })
        .then((r) => {
          if (!r.ok) throw new Error("identity " + r.status);
          return r.json(); // read to the end: a body left unread keeps the request open
        })
        .then(() => live.reopen())
        .then(() => {
          identified = true; // only now: until the new socket is open, frames wait for it
          identifying = null;
        })
        .catch(() => {
          identifying = null;
        });
    }
    identifying.then(send);
  }

  // After a reload: this browser's questions and what became of them. Only if it asked any in this
  // programme (at the start of a programme nearly everyone arrives having asked nothing, and the
  // request is a sixth of a visit's server time: bench/README.md, "Rush"), or once the programme has
  // ended — no rush then, and a browser whose storage was cleared still finds the letter its
  // unanswered question became (the list follows the identity cookie, not the storage).
  if (Object.keys(asked).length || ended()) {
    fetch("/api/broadcasts/" + id + "/my-questions/", { credentials: "same-origin" })
      .then((r) => r.json())
      .then((body) =>
        body.questions.forEach((q) => showMine(q.question_id, q.status, q.text, q.reason, q.letter)),
      )
      .catch(() => {});
  }
  // The counts so far and which questions this browser already supported (if it has an identity).
  fetch("/api/broadcasts/" + id + "/supports/", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((body) => {
      if (body.identified) identified = true;
      body.mine.forEach((qid) => supported.add(String(qid)));
      Object.entries(body.counts).forEach(([qid, n]) => setSupport(qid, n));
    })
    .catch(() => {});
  live = MinxinSocket.open(
    () => "/ws/live/" + id + "/?after=" + lastSeq + (Object.keys(asked).length ? "&mine=1" : ""),
    {
      onFrame: onFrame,
      onOpen: () => showConnection("open", t("connected")),
      onClose: () => showConnection("reconnecting", t("reconnecting")),
    }
  );

  // The shared page carries no CSRF token (studio.views.live_page): the header's forms (the language
  // switch) take it from the CSRF cookie when they are sent — fetching one first (with the
  // identity, /api/netizen/) if this browser has none yet.
  const csrfCookie = () => (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";
  document.querySelectorAll("input[data-csrf-cookie]").forEach((input) => {
    input.form.addEventListener("submit", (submit) => {
      input.value = csrfCookie();
      if (input.value) return;
      submit.preventDefault();
      const button = submit.submitter;
      fetch("/api/netizen/", { credentials: "same-origin" })
        .then((r) => r.json())
        .catch(() => {})
        .finally(() => {
          input.value = csrfCookie();
          if (button && button.name) {
            const chosen = el("input");
            chosen.type = "hidden";
            chosen.name = button.name;
            chosen.value = button.value;
            input.form.appendChild(chosen);
          }
          input.form.submit();
        });
    });
  });
})();
