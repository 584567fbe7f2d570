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
    const self = { socket: null, unacked: {}, backoff: 500, opened: false, timer: null, whenOpen: null };

    // Settle whoever waits for the next open (reopen), with whether it opened.
    function settleOpen(opened) {
      const waiting = self.whenOpen;
      self.whenOpen = null;
      if (waiting) waiting(opened);
    }
    function later(fn, delay) {
      clearTimeout(self.timer);
      self.timer = setTimeout(fn, delay);
    }

    function connect() {
      clearTimeout(self.timer);
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + (typeof path === "function" ? path() : path));
      self.socket = socket;
      // Events of a socket this one replaced (reopen) are not this connection's.
      const current = () => self.socket === socket;
      socket.onopen = () => {
        if (!current()) return;
        self.backoff = 500;
        self.opened = true;
        if (handlers.onOpen) handlers.onOpen();
        Object.values(self.unacked).forEach((frame) => socket.send(JSON.stringify(frame)));
        settleOpen(true);
      };
      socket.onmessage = (message) => {
        if (current()) handlers.onFrame(JSON.parse(message.data));
      };
      socket.onclose = (closed) => {
        if (!current()) return;
        if (handlers.onClose) handlers.onClose(closed);
        if (closed.code >= 4400 && closed.code < 4500) {
          settleOpen(false); // final: nothing will open
          return;
        }
        if (self.opened) {
          self.opened = false;
          later(connect, Math.random() * (closed.code === GOING_AWAY ? 500 : SPREAD));
          return;
        }
        later(connect, self.backoff + Math.random() * self.backoff);
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
    // Keep a frame for its ack without sending it now: it goes with the next open (reopen).
    self.hold = (frame, ref) => {
      if (!self.fits(frame)) {
        if (handlers.onTooBig) handlers.onTooBig(frame);
        return false;
      }
      self.unacked[ref] = frame;
      return true;
    };
    // Send every frame kept for its ack, if connected (after a reopen that did not happen).
    self.flush = () => {
      if (self.socket && self.socket.readyState === WebSocket.OPEN) {
        Object.values(self.unacked).forEach((frame) => self.socket.send(JSON.stringify(frame)));
      }
    };
    // A new socket now, in place of the current one (and of any reconnect waiting to happen): the
    // live page's, once the browser has an identity cookie the handshake should carry. Resolves
    // with true when the new one opens (frames kept for their ack are resent first), false if it
    // closes for good.
    self.reopen = () =>
      new Promise((resolve) => {
        settleOpen(false);
        self.whenOpen = resolve;
        const old = self.socket;
        self.socket = null;
        self.opened = false;
        if (old) old.close();
        connect();
      });
    connect();
    return self;
  }

  window.MinxinSocket = { open: open };
})();
