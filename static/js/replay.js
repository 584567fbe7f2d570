// The replay: the programme's event log read back over HTTP and played at its original pace
// (1×, 2×, 4×, or jump to a moment). Withdrawn items are never shown.
//
// A programme has silences (before the first question, between segments): while playing, any
// wait of more than GAP for the next item is skipped, and the page says so ("skipped 1 min 30 s
// with nothing new"); the slider and the clock keep the programme's real time, so they jump.
// Unticking "skip silences" plays every second, and the page says how long until the next item.
(function () {
  "use strict";
  const root = document.getElementById("replay");
  const id = root.dataset.broadcast;
  const t = MinxinFeed.words(root);
  const feed = document.getElementById("feed");
  const slider = document.getElementById("position");
  const clock = document.getElementById("clock");
  const playButton = document.getElementById("play");
  const skipGaps = document.getElementById("skip-gaps");
  const nextIn = document.getElementById("next-in");
  const skipped = document.getElementById("skipped");
  const GAP = 5000; // ms of programme time: a longer wait for the next item is skipped
  const LEAD = 1000; // ms of programme time kept before the next item, so it does not land at once
  const SKIPPED_SHOWN = 4000; // ms the "skipped" notice stays
  let events = []; // playable events with .offset (ms from the first event)
  let shown = 0; // how many of them are on the page
  let position = 0;
  let playing = false;
  let last = 0;
  let skippedTimer = null;
  const counts = {};
  const rearrange = MinxinFeed.views(feed, document.getElementById("views"), t);
  const feedOptions = {
    t: t,
    support: (questionId) => ({ count: counts[questionId] || 0, mine: false }),
  };

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
    document.getElementById("duration").textContent = "/ " + format(Number(slider.max));
  }

  // The final 附议 counts, for "most supported" and beside each question; the replay works without.
  async function loadSupports() {
    try {
      const response = await fetch("/api/broadcasts/" + id + "/supports/", { credentials: "same-origin" });
      Object.assign(counts, (await response.json()).counts);
    } catch (unavailable) {
      // the questions simply show no count
    }
  }

  function format(ms) {
    const s = Math.floor(ms / 1000);
    return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }

  // A span of time in words: "1 分 30 秒" / "1 min 30 s".
  function duration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return t("seconds").replace("{s}", s);
    return t("minutes").replace("{m}", Math.floor(s / 60)).replace("{s}", s % 60);
  }

  // The next event that puts something on the page (a status change shows nothing).
  function nextVisible() {
    for (let i = shown; i < events.length; i++) {
      if (events[i].kind !== "broadcast.status") return events[i];
    }
    return null;
  }

  function showUpTo(ms) {
    if (ms < position) { // going back: start again from the top
      feed.innerHTML = "";
      shown = 0;
    }
    position = ms;
    while (shown < events.length && events[shown].offset <= position) {
      MinxinFeed.render(feed, events[shown], feedOptions);
      shown += 1;
    }
    rearrange();
    slider.value = String(position);
    clock.textContent = format(position);
    const next = nextVisible();
    const wait = next ? next.offset - position : 0;
    nextIn.textContent = next && wait >= 1000 ? t("next_in").replace("{time}", duration(wait)) : "";
    if (shown >= events.length && playing) toggle();
  }

  function tick(now) {
    if (!playing) return;
    let to = position + (now - last) * Number(document.getElementById("speed").value);
    // After the last item, the programme's end (its status change) is still worth no waiting.
    const next = nextVisible() || (shown < events.length ? events[events.length - 1] : null);
    if (skipGaps.checked && next && next.offset - to > GAP) {
      const target = next.kind === "broadcast.status" ? next.offset : next.offset - LEAD;
      tellSkipped(target - to);
      to = target;
    }
    showUpTo(to);
    last = now;
    requestAnimationFrame(tick);
  }

  function tellSkipped(ms) {
    skipped.textContent = t("skipped").replace("{time}", duration(ms));
    clearTimeout(skippedTimer);
    skippedTimer = setTimeout(() => (skipped.textContent = ""), SKIPPED_SHOWN);
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
  // Play and "show everything" wait for the log (the template disables them until then).
  Promise.all([load(), loadSupports()]).then(() => {
    showUpTo(0);
    playButton.disabled = false;
    document.getElementById("to-end").disabled = false;
  });
})();
