// The replay: the programme's event log read back over HTTP and played at its original pace
// (1×, 2×, 4×, or jump to a moment). Withdrawn items are never shown.
(function () {
  "use strict";
  const root = document.getElementById("replay");
  const id = root.dataset.broadcast;
  const t = MinxinFeed.words(root);
  const feed = document.getElementById("feed");
  const slider = document.getElementById("position");
  const clock = document.getElementById("clock");
  const playButton = document.getElementById("play");
  let events = []; // playable events with .offset (ms from the first event)
  let shown = 0; // how many of them are on the page
  let position = 0;
  let playing = false;
  let last = 0;

  async function load() {
    let after = 0;
    const all = [];
    for (;;) {
      const response = await fetch("/api/broadcasts/" + id + "/events/?after=" + after + "&limit=1000");
      const body = await response.json();
      all.push(...body.events);
      if (!body.events.length || after >= body.last_seq) break;
      after = body.events[body.events.length - 1].seq;
      if (after >= body.last_seq) break;
    }
    const withdrawn = new Set(all.filter((e) => e.kind === "withdrawn").map((e) => e.data.seq));
    const playable = all.filter((e) => e.kind !== "withdrawn" && !withdrawn.has(e.seq));
    const start = playable.length ? Date.parse(playable[0].at) : 0;
    events = playable.map((e) => Object.assign(e, { offset: Date.parse(e.at) - start }));
    slider.max = events.length ? events[events.length - 1].offset : 0;
  }

  function format(ms) {
    const s = Math.floor(ms / 1000);
    return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }

  function showUpTo(ms) {
    if (ms < position) { // going back: start again from the top
      feed.innerHTML = "";
      shown = 0;
    }
    position = ms;
    while (shown < events.length && events[shown].offset <= position) {
      MinxinFeed.render(feed, events[shown], { t: t });
      shown += 1;
    }
    slider.value = String(position);
    clock.textContent = format(position);
    if (shown >= events.length && playing) toggle();
  }

  function tick(now) {
    if (!playing) return;
    showUpTo(position + (now - last) * Number(document.getElementById("speed").value));
    last = now;
    requestAnimationFrame(tick);
  }

  function toggle() {
    playing = !playing;
    playButton.textContent = playing ? t("pause") : t("play");
    if (playing) {
      if (shown >= events.length) showUpTo(-1);
      last = performance.now();
      requestAnimationFrame(tick);
    }
  }

  playButton.addEventListener("click", toggle);
  slider.addEventListener("input", () => showUpTo(Number(slider.value)));
  document.getElementById("to-end").addEventListener("click", () => showUpTo(Number(slider.max)));
  load().then(() => showUpTo(0));
})();
