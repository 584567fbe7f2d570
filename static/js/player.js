// The programme's player (templates/_player.html). HLS (.m3u8) plays natively where the browser can,
// else through hls.js (served from /static/vendor, added to the page only then) where MediaSource
// exists; MP4/WebM and audio play as they are. A live stream that breaks off is retried with a
// growing pause and a message in words; a recording that fails offers "Try again".
(function () {
  "use strict";

  const RETRY_FIRST_MS = 2000;
  const RETRY_MAX_MS = 30000;
  const HLS_TYPES = ["application/vnd.apple.mpegurl", "application/x-mpegURL"];

  function words(root) {
    return (key) => root.dataset["i18n" + key.charAt(0).toUpperCase() + key.slice(1)] || key;
  }

  // One <script> for hls.js however many players ask; resolves to window.Hls.
  let hlsScript = null;
  function loadHls(url) {
    if (window.Hls) return Promise.resolve(window.Hls);
    if (!hlsScript) {
      hlsScript = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = url;
        script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not load")));
        script.onerror = () => {
          hlsScript = null; // a later retry may fetch it again
          reject(new Error("hls.js did not load"));
        };
        document.head.appendChild(script);
      });
    }
    return hlsScript;
  }

  function setUp(root) {
    const t = words(root);
    const media = root.querySelector(".player-media");
    const start = root.querySelector(".player-start");
    const text = root.querySelector(".player-text");
    const link = root.querySelector(".player-link");
    const retry = root.querySelector(".player-retry");
    const src = root.dataset.src;
    const live = root.hasAttribute("data-live");
    const nativeHls = HLS_TYPES.some((type) => media.canPlayType(type) !== "");
    let hls = null;
    let wait = RETRY_FIRST_MS;
    let timer = null;

    function say(message, options) {
      text.textContent = message;
      link.hidden = !(options && options.link);
      retry.hidden = !(options && options.retry);
      root.classList.toggle("has-error", Boolean(options && options.error));
    }

    function detach() {
      if (hls) {
        hls.destroy();
        hls = null;
      }
    }

    function play() {
      const started = media.play();
      // A browser that refuses to start without a gesture leaves the native controls to the viewer.
      if (started && started.catch) started.catch(() => {});
    }

    // Live: try again by itself, with a growing pause; a recording: the viewer decides.
    function broken() {
      detach();
      if (!live) {
        say(t("failed"), { retry: true, error: true });
        return;
      }
      say(t("retrying"), { error: true });
      clearTimeout(timer);
      timer = setTimeout(attach, wait);
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }

    function attachHlsJs(Hls) {
      if (!Hls.isSupported()) {
        say(t("unsupported"), { link: true, error: true });
        return;
      }
      // No worker: hls.js would start it from a blob: URL, which the Content-Security-Policy does
      // not allow; a programme's single stream transmuxes easily on the page.
      hls = new Hls({ enableWorker: false });
      hls.on(Hls.Events.ERROR, (event, data) => {
        if (!data.fatal) return; // hls.js retries those itself
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && hls) {
          hls.recoverMediaError();
        } else {
          broken();
        }
      });
      hls.on(Hls.Events.MANIFEST_PARSED, play);
      hls.loadSource(src);
      hls.attachMedia(media);
    }

    function attach() {
      detach();
      if (root.dataset.kind !== "hls" || nativeHls) {
        media.src = src;
        media.load();
        play();
      } else if (window.MediaSource || window.ManagedMediaSource) {
        loadHls(root.dataset.hls).then(attachHlsJs, broken);
      } else {
        say(t("unsupported"), { link: true, error: true });
      }
    }

    // The native element's errors: for hls.js they come through its ERROR event instead.
    media.addEventListener("error", () => {
      if (!hls && media.getAttribute("src")) broken();
    });
    media.addEventListener("playing", () => {
      wait = RETRY_FIRST_MS;
      say("");
    });
    media.addEventListener("loadedmetadata", () => {
      // Sound only (an audio-only HLS stream in a <video>): the title card stays as its picture.
      root.classList.toggle("is-sound-only", media.localName === "audio" || media.videoWidth === 0);
    });
    start.addEventListener("click", () => {
      root.classList.add("is-started");
      media.controls = true;
      say(t("loading"));
      attach();
      media.focus();
    });
    retry.addEventListener("click", () => {
      say(t("loading"));
      attach();
    });
  }

  document.querySelectorAll(".player[data-src]").forEach(setUp);
})();
