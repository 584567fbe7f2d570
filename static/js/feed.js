// How a programme's public events look: one renderer for the live page and the replay,
// so that both show the log the same way. Text fields are sanitised HTML from the server.
(function () {
  "use strict";

  function el(tag, cls, html) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (html !== undefined) node.innerHTML = html; // server-sanitised HTML only
    return node;
  }

  // Returns the new feed item, or null for events that change the page instead (status, withdrawal).
  // options: t(key) for words, onStatus(status), onSupport(questionId, button) to offer 附议.
  function render(feed, ev, options) {
    const t = options.t;
    const d = ev.data;
    let item = null;
    if (ev.kind === "question.published") {
      item = el("li", "question");
      item.appendChild(el("span", "who", d.question.nickname + " " + t("asks")));
      item.appendChild(el("p", "text", d.question.text));
      item.dataset.question = d.question.id;
      if (options.onSupport) {
        const support = el("button", "support");
        support.type = "button";
        support.textContent = t("support") + " 0";
        support.addEventListener("click", () => options.onSupport(d.question.id, support));
        item.appendChild(support);
      }
    } else if (ev.kind === "answer.posted") {
      item = el("li", "answer");
      item.appendChild(el("span", "who")).textContent = d.answer.guest.name + " " + d.answer.guest.title;
      item.appendChild(el("div", "text", d.answer.text));
      if (d.answer.question_id) item.dataset.answers = d.answer.question_id;
    } else if (ev.kind === "host.message") {
      item = el("li", "host");
      item.appendChild(el("span", "who")).textContent = t("host") + " " + d.message.author;
      item.appendChild(el("div", "text", d.message.text));
    } else if (ev.kind === "broadcast.status") {
      if (options.onStatus) options.onStatus(d.status);
    } else if (ev.kind === "withdrawn") {
      const gone = feed.querySelector('[data-seq="' + d.seq + '"]');
      if (gone) gone.remove();
    }
    if (item) {
      item.dataset.seq = ev.seq;
      const time = el("time", "at");
      time.dateTime = ev.at;
      time.textContent = clock(ev.at);
      item.prepend(time);
      feed.appendChild(item);
    }
    return item;
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

  window.MinxinFeed = { render: render, words: words, el: el };
})();
