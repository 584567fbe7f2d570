// One reconnecting WebSocket for every page: backoff with jitter, and frames that carry a
// client_id/action_id are kept until acknowledged and resent after a reconnect, so a dropped
// connection neither loses nor (the server dedupes on the id) doubles a write.
(function () {
  "use strict";

  // The server closes a socket that sends a frame over this many UTF-8 bytes (settings
  // MINXIN_MAX_FRAME_BYTES, PROTOCOL.md §1; tests/test_live_protocol.py checks the two agree).
  const MAX_FRAME_BYTES = 32768;
  const utf8Bytes = (text) => new TextEncoder().encode(text).length;

  // path: a string, or a function returning the path (e.g. with ?after=<last seq>).
  // handlers: onFrame(frame), onOpen(), onClose(closeEvent), onTooBig(frame). Close codes
  // 4400–4499 are final.
  // After an open socket is lost, the first reconnect waits a random time in [0, SPREAD): when a
  // server dies, all its viewers lose their sockets at once, and the spread turns their return into
  // a ramp, not a second rush. 4503 (the server drains for a deploy, and spreads its closes itself):
  // in [0, 500 ms). Failed attempts then back off exponentially, with jitter, up to 15 s.
  const SPREAD = 2000;
  const GOING_AWAY = 4503;
  function open(path, handlers) {
    const self = { socket: null, unacked: {}, backoff: 500, opened: false };

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + (typeof path === "function" ? path() : path));
      self.socket = socket;
      socket.onopen = () => {
        self.backoff = 500;
        self.opened = true;
        if (handlers.onOpen) handlers.onOpen();
        Object.values(self.unacked).forEach((frame) => socket.send(JSON.stringify(frame)));
        if (self.whenOpen) {
          const opened = self.whenOpen;
          self.whenOpen = null;
          opened();
        }
      };
      socket.onmessage = (message) => handlers.onFrame(JSON.parse(message.data));
      socket.onclose = (closed) => {
        if (handlers.onClose) handlers.onClose(closed);
        if (closed.code >= 4400 && closed.code < 4500) return;
        if (self.opened) {
          self.opened = false;
          setTimeout(connect, Math.random() * (closed.code === GOING_AWAY ? 500 : SPREAD));
          return;
        }
        setTimeout(connect, self.backoff + Math.random() * self.backoff);
        self.backoff = Math.min(self.backoff * 2, 15000);
      };
    }

    // Send now if connected; a frame with a ref is also kept until settle(ref). A frame over the
    // server's limit is refused here: sent, it would close the socket, and kept, it would be
    // resent after every reconnect and close it again, for ever.
    self.fits = (frame) => utf8Bytes(JSON.stringify(frame)) <= MAX_FRAME_BYTES;
    self.send = (frame, ref) => {
      const text = JSON.stringify(frame);
      if (utf8Bytes(text) > MAX_FRAME_BYTES) {
        if (handlers.onTooBig) handlers.onTooBig(frame);
        return false;
      }
      if (ref) self.unacked[ref] = frame;
      if (self.socket && self.socket.readyState === WebSocket.OPEN) {
        self.socket.send(text);
        return true;
      }
      return false;
    };
    self.settle = (ref) => {
      const frame = self.unacked[ref];
      delete self.unacked[ref];
      return frame;
    };
    // A new socket now, the old one dropped without the onClose handler: the live page's, once the
    // browser has an identity cookie the handshake should carry. Resolves when the new one opens
    // (frames kept for their ack are resent first).
    self.reopen = () =>
      new Promise((resolve) => {
        self.whenOpen = resolve;
        const old = self.socket;
        if (old) {
          old.onclose = null;
          old.onmessage = null;
          old.close();
        }
        connect();
      });
    connect();
    return self;
  }

  window.MinxinSocket = { open: open };
})();
