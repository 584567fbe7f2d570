// The write-a-letter page: check the fields, post the letter to /api/letters/ as JSON with an
// Idempotency-Key (kept until the letter is stored, so a double click or a retry after a dropped
// connection stores one letter), then show the tracking code and the secret key once.
(function () {
  "use strict";
  const root = document.getElementById("write");
  if (!root) return;
  const form = document.getElementById("write-form");
  const send = document.getElementById("write-send");
  const status = document.getElementById("write-status");
  const alertBox = document.getElementById("write-error");
  const fields = ["subject", "body", "name", "contact"];
  const t = (name) => root.dataset["i18n" + name.replace(/(^|-)(\w)/g, (_m, _d, c) => c.toUpperCase())] || name;
  let idempotencyKey = null;
  let sending = false;

  function csrfToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return found ? decodeURIComponent(found.slice("csrftoken=".length)) : "";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function showFieldError(name, message) {
    const input = document.getElementById(name);
    const box = document.getElementById(name + "-error");
    if (!input || !box) return;
    box.textContent = message || "";
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    fields.forEach((name) => showFieldError(name, ""));
    showFieldError("consent", "");
    alertBox.textContent = "";
  }

  function localCheck() {
    let first = null;
    fields.forEach((name) => {
      const input = document.getElementById(name);
      if (!input.value.trim()) {
        showFieldError(name, t("empty"));
        first = first || input;
      } else if (input.maxLength > 0 && input.value.trim().length > input.maxLength) {
        showFieldError(name, t("too-long"));
        first = first || input;
      }
    });
    // PIPL: nothing is sent before the writer has agreed to the notice.
    const consent = document.getElementById("consent");
    if (!consent.checked) {
      showFieldError("consent", t("consent"));
      first = first || consent;
    }
    return first;
  }

  function written(answer) {
    form.hidden = true;
    const section = document.getElementById("written");
    document.getElementById("written-code").textContent = answer.code;
    document.getElementById("written-key").textContent = answer.key || t("again");
    section.hidden = false;
    section.focus();
    idempotencyKey = null;
  }

  function refused(body) {
    const error = (body && body.error) || {};
    const problems = error.fields || {};
    let first = null;
    Object.keys(problems).forEach((name) => {
      if (name === "consent") {
        showFieldError(name, t("consent"));
        first = first || document.getElementById(name);
        return;
      }
      if (fields.indexOf(name) < 0) return;
      const word = problems[name] === "empty" ? "empty" : problems[name] === "too long" ? "too-long" : "invalid";
      showFieldError(name, t(word));
      first = first || document.getElementById(name);
    });
    alertBox.textContent = first ? t("check") : error.message || t("failed");
    if (first) first.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (sending) return; // a double click sends once
    clearErrors();
    const bad = localCheck();
    if (bad) {
      alertBox.textContent = t("check");
      bad.focus();
      return;
    }
    idempotencyKey = idempotencyKey || newKey();
    sending = true;
    send.disabled = true;
    status.textContent = t("sending");
    const letter = {
      kind: document.getElementById("kind").value,
      subject: document.getElementById("subject").value,
      body: document.getElementById("body").value,
      name: document.getElementById("name").value,
      contact: document.getElementById("contact").value,
      public: document.getElementById("public").checked,
      consent: document.getElementById("consent").checked,
    };
    fetch(root.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken(),
        "Idempotency-Key": idempotencyKey,
      },
      body: JSON.stringify(letter),
    })
      .then((response) =>
        response
          .json()
          .catch(() => ({}))
          .then((body) => ({ ok: response.ok, body: body }))
      )
      .then((result) => {
        status.textContent = "";
        if (result.ok && result.body.code) written(result.body);
        else refused(result.body);
      })
      .catch(() => {
        status.textContent = "";
        alertBox.textContent = t("network"); // the same key is sent again on the retry
      })
      .finally(() => {
        sending = false;
        send.disabled = false;
      });
  });
})();
