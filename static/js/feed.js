// How a programme's public events look: one renderer for the live page and the replay, so that
// both show the log the same way. Text fields are sanitised HTML from the server.
//
// An answer sits inside its question's item (a question answered twice holds both answers), so
// that it never reads as the answer to the question above it; a guest's statement (question_id
// null) and a host message stand alone. The viewer orders and filters the items (arrange()).
(function () {
  "use strict";

  function el(tag, cls, html) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (html !== undefined) node.innerHTML = html; // server-sanitised HTML only
    return node;
  }

  function tag(cls, text) {
    const node = el("span", "tag " + cls);
    node.textContent = text;
    return node;
  }

  // Returns the new feed item, or null for events that change the page instead (status, withdrawal).
  // options: t(key) for words; onStatus(status); onSupport(questionId, button) to offer 附议;
  // support(questionId) → {count, mine} for what is known of its 附议 when it is drawn.
  function render(feed, ev, options) {
    const t = options.t;
    const d = ev.data;
    let item = null;
    if (ev.kind === "question.published") {
      item = questionItem(d.question, options);
      feed.appendChild(item);
    } else if (ev.kind === "answer.posted") {
      item = answerItem(feed, d.answer, t);
    } else if (ev.kind === "host.message") {
      item = el("li", "host");
      item.appendChild(el("span", "who")).textContent = t("host") + " " + d.message.author;
      item.appendChild(el("div", "text", d.message.text));
      feed.appendChild(item);
    } else if (ev.kind === "broadcast.status") {
      if (options.onStatus) options.onStatus(d.status);
    } else if (ev.kind === "withdrawn") {
      withdraw(feed, d.seq, t);
    }
    if (item) {
      item.dataset.seq = ev.seq;
      const time = el("time", "at");
      time.dateTime = ev.at;
      time.textContent = clock(ev.at);
      item.prepend(time);
      const top = item.closest("#" + feed.id + " > li");
      top.dataset.activity = ev.seq; // the latest thing that happened to it, for "latest first"
    }
    return item;
  }

  function questionItem(question, options) {
    const t = options.t;
    const item = el("li", "question");
    item.dataset.question = question.id;
    item.appendChild(el("span", "who", question.nickname + " " + t("asks")));
    const mark = item.appendChild(tag("answered-mark", t("answered_mark")));
    mark.hidden = true;
    item.appendChild(el("p", "text", question.text));
    let control = null;
    if (options.onSupport) {
      control = el("button", "support");
      control.type = "button";
      control.addEventListener("click", () => options.onSupport(question.id, control));
    } else if (options.support) {
      control = el("span", "support"); // the replay: the final count, nothing to press
    }
    if (control) {
      item.appendChild(control);
      const known = options.support ? options.support(question.id) : { count: 0, mine: false };
      showSupport(item, known.count, known.mine, t);
    }
    return item;
  }

  function answerItem(feed, answer, t) {
    const item = el("li", "answer");
    const who = item.appendChild(el("span", "who"));
    who.textContent = answer.guest.name + " ";
    who.appendChild(el("span", "title")).textContent = answer.guest.title;
    // Answered by voice on air: the text is the host's short summary of what was said.
    if (answer.on_air) item.appendChild(tag("on-air", t("on_air")));
    item.appendChild(el("div", "text", answer.text));
    if (!answer.question_id) {
      item.classList.add("statement");
      item.insertBefore(tag("kind", t("statement")), item.querySelector(".text"));
      feed.appendChild(item);
      return item;
    }
    item.dataset.answers = answer.question_id;
    const question = feed.querySelector(':scope > li.question[data-question="' + answer.question_id + '"]');
    if (!question) {
      // Its question is not on screen (withdrawn, or a log written before answers brought their
      // questions): it stands alone and says so, rather than seem to answer the item above it.
      alone(item, t);
      feed.appendChild(item);
      return item;
    }
    let list = question.querySelector(":scope > ol.answers");
    if (!list) {
      list = el("ol", "answers");
      list.setAttribute("aria-label", t("answers"));
      question.appendChild(list);
    }
    list.appendChild(item);
    markAnswered(question, true);
    return item;
  }

  function alone(answer, t) {
    if (!answer.querySelector(".tag.kind")) {
      answer.insertBefore(tag("kind", t("answer_alone")), answer.querySelector(".text"));
    }
    answer.classList.add("alone");
  }

  function markAnswered(question, answered) {
    question.classList.toggle("answered", answered);
    question.querySelector(":scope > .answered-mark").hidden = !answered;
    if (!answered) {
      const list = question.querySelector(":scope > ol.answers");
      if (list) list.remove();
    }
  }

  // An earlier event taken down: its item goes; a withdrawn question's answers stay, alone.
  function withdraw(feed, seq, t) {
    const gone = feed.querySelector('[data-seq="' + seq + '"]');
    if (!gone) return;
    const question = gone.matches("li.answer") ? gone.closest("li.question") : null;
    if (gone.matches("li.question")) {
      gone.querySelectorAll(":scope > ol.answers > li").forEach((answer) => {
        alone(answer, t);
        answer.dataset.activity = answer.dataset.seq;
        feed.insertBefore(answer, gone);
      });
    }
    gone.remove();
    if (question && !question.querySelector("li.answer")) markAnswered(question, false);
  }

  // A question's 附议 as the page knows it: the count, and whether this browser gave one.
  function showSupport(item, count, mine, t) {
    const control = item.querySelector(":scope > .support");
    item.dataset.support = count;
    if (!control) return;
    if (mine) item.dataset.mine = "1";
    const given = item.dataset.mine === "1";
    control.textContent = (given ? t("supported") : t("support")) + " " + count;
    if (given && control.tagName === "BUTTON") control.disabled = true;
  }

  // The viewer's choice of order and filter, kept on the feed (data-view):
  //   programme  every item in the programme's order (the default; new items at the bottom)
  //   latest     every item, the latest activity first (a new answer lifts its question)
  //   support    questions only, the most supported first
  //   answered / unanswered  questions only, in the programme's order
  // Items are moved only where they are out of place, so the polite live region stays quiet.
  function arrange(feed) {
    const view = feed.dataset.view || "programme";
    const items = Array.from(feed.children);
    const questionsOnly = view === "support" || view === "answered" || view === "unanswered";
    let shown = 0;
    items.forEach((item) => {
      const isQuestion = item.classList.contains("question");
      const answered = item.classList.contains("answered");
      item.hidden =
        (questionsOnly && !isQuestion) ||
        (view === "answered" && !answered) ||
        (view === "unanswered" && answered);
      if (!item.hidden) shown += 1;
    });
    const seq = (item) => Number(item.dataset.seq);
    const key = {
      programme: (a, b) => seq(a) - seq(b),
      latest: (a, b) => Number(b.dataset.activity) - Number(a.dataset.activity),
      support: (a, b) => Number(b.dataset.support || 0) - Number(a.dataset.support || 0) || seq(a) - seq(b),
    }[view] || ((a, b) => seq(a) - seq(b));
    const sorted = items.slice().sort(key);
    sorted.forEach((item, i) => {
      if (feed.children[i] !== item) feed.insertBefore(item, feed.children[i]);
    });
    return { shown: shown, total: items.length };
  }

  // The buttons that choose the view (templates/_feed_views.html): one pressed at a time.
  function views(feed, group, t, after) {
    const status = document.getElementById(group.dataset.status);
    function update() {
      const counted = arrange(feed);
      if (feed.dataset.view && feed.dataset.view !== "programme") {
        status.textContent = counted.shown
          ? t("showing").replace("{shown}", counted.shown).replace("{total}", counted.total)
          : t("none_shown");
      } else {
        status.textContent = "";
      }
      if (after) after();
    }
    group.querySelectorAll("button[data-view]").forEach((button) => {
      button.addEventListener("click", () => {
        group.querySelectorAll("button[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        feed.dataset.view = button.dataset.view;
        update();
      });
    });
    return update;
  }

  // A moment as the page's clock shows it: in the page's language (<html lang>) and the
  // programme's time zone (<html data-time-zone>, the server's), not the browser's, so that the
  // feed agrees with the header's times wherever the viewer is.
  function clock(iso) {
    const root = document.documentElement;
    try {
      return new Date(iso).toLocaleTimeString(root.lang || undefined, { timeZone: root.dataset.timeZone });
    } catch (unknownZone) {
      return new Date(iso).toLocaleTimeString(root.lang || undefined);
    }
  }

  // Words for the renderer from data-i18n-* attributes of a page's root element.
  function words(root) {
    return (key) => root.dataset["i18n" + key.replace(/(^|_)(\w)/g, (m, s, c) => c.toUpperCase())] || key;
  }

  window.MinxinFeed = {
    render: render,
    words: words,
    el: el,
    arrange: arrange,
    views: views,
    showSupport: showSupport,
  };
})();
