// Keeps each colour click until the collector has recorded it, and tells the person where each
// one stands. A click gets its own id (a UUID v7) when it happens and waits in localStorage, so
// neither a lost connection, a 503, nor closing the page loses it; sending it again is safe, as
// the collector answers a repeated id without producing it twice.
// Everything shown is set with textContent: names are never parsed as markup.
(function () {
  "use strict";
  const apiBase = document.body.dataset.apiBase;
  const nameInput = document.getElementById("user-name");
  const status = document.getElementById("status");
  const history = document.getElementById("history");

  const OUTBOX_KEY = "web-events.outbox";
  // The latest recorded clicks, newest first, for the results page to find in the index.
  const RECORDED_KEY = "web-events.recorded";
  const RECORDED_KEPT = 20;
  const MAX_NAME_CHARACTERS = 64;
  const BATCH_CLICKS = 50; // well within the collector's 100 clicks and 64 KiB
  const MAX_RETRY_SECONDS = 30;

  // Clicks not yet recorded, oldest first: { eventId, userName, colorName, clientTimestamp }.
  let outbox = load();
  let sending = false;
  let failures = 0;
  let retryTimer = null;
  let clickCount = 0;
  const rows = new Map(); // eventId -> history row

  function load() {
    try {
      const stored = JSON.parse(localStorage.getItem(OUTBOX_KEY) || "[]");
      return Array.isArray(stored) ? stored : [];
    } catch (_) {
      return [];
    }
  }

  function save() {
    try {
      localStorage.setItem(OUTBOX_KEY, JSON.stringify(outbox));
    } catch (_) {
      // Storage full or refused (private mode): the clicks still wait in memory.
    }
  }

  // A UUID v7: 48 bits of Unix milliseconds, the version, then random bits.
  function uuidv7() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    let millis = Date.now();
    for (let i = 5; i >= 0; i--) {
      bytes[i] = millis % 256;
      millis = Math.floor(millis / 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // The live region: each message is new text, so a screen reader announces every click.
  function show(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  const STATES = {
    sending: "sending…",
    waiting: "waiting to retry",
    recorded: "recorded",
  };

  function row(click) {
    let item = rows.get(click.eventId);
    if (!item) {
      item = document.createElement("li");
      const what = document.createElement("span");
      const time = new Date(click.clientTimestamp).toLocaleTimeString();
      what.textContent = `${time} ${click.colorName} — ${click.userName}`;
      const state = document.createElement("span");
      state.className = "state";
      item.append(what, ": ", state);
      history.prepend(item);
      rows.set(click.eventId, item);
      while (history.children.length > 20) {
        const last = history.lastElementChild;
        for (const [id, el] of rows) if (el === last) rows.delete(id);
        last.remove();
      }
    }
    return item;
  }

  function mark(click, state, detail) {
    const item = row(click);
    item.dataset.state = state;
    item.querySelector(".state").textContent = detail ? `not recorded (${detail})` : STATES[state];
  }

  function summary(click, outcome) {
    return `${outcome} ${click.colorName} for ${click.userName} (click ${++clickCount}).`;
  }

  function retryAfterSeconds(response) {
    const header = response && response.headers.get("Retry-After");
    const seconds = header === null ? NaN : Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, MAX_RETRY_SECONDS);
    return Math.min(2 ** failures, MAX_RETRY_SECONDS) * (0.5 + Math.random() / 2);
  }

  function scheduleRetry(seconds) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, seconds * 1000);
  }

  function settle(click) {
    outbox = outbox.filter((c) => c.eventId !== click.eventId);
  }

  function remember(click) {
    try {
      const stored = JSON.parse(localStorage.getItem(RECORDED_KEY) || "[]");
      const recorded = Array.isArray(stored) ? stored.filter((c) => c.eventId !== click.eventId) : [];
      recorded.unshift({ eventId: click.eventId, colorName: click.colorName, clientTimestamp: click.clientTimestamp });
      localStorage.setItem(RECORDED_KEY, JSON.stringify(recorded.slice(0, RECORDED_KEPT)));
    } catch (_) {
      // Storage refused: the results page shows everyone's clicks, not this person's.
    }
  }

  // Sends the oldest waiting clicks as one batch; on an answer, records or refuses each click;
  // on no answer or a 503, keeps them all and tries again later.
  async function flush() {
    if (sending || outbox.length === 0) return;
    clearTimeout(retryTimer);
    sending = true;
    const batch = outbox.slice(0, BATCH_CLICKS);
    for (const click of batch) mark(click, "sending");
    let response = null;
    let body = null;
    try {
      response = await fetch(apiBase + "/api/events", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(batch),
      });
      try { body = await response.json(); } catch (_) { body = null; }
    } catch (_) {
      response = null;
    }
    sending = false;
    const results = body && Array.isArray(body.results) ? body.results : null;
    let retry = false;
    batch.forEach((click, index) => {
      const result = results ? results[index] : null;
      if (result && result.eventId) {
        settle(click);
        remember(click);
        mark(click, "recorded");
        show(summary(click, "Recorded"), false);
      } else if (retryable(response, result)) {
        retry = true;
        mark(click, "waiting");
      } else {
        const error = (result && result.error) || (body && body.error);
        const reason = error && error.message ? error.message : `the collector answered ${response.status}`;
        settle(click);
        mark(click, "refused", reason);
        show(summary(click, "Not recorded:") + " " + reason, true);
      }
    });
    save();
    if (retry) {
      failures += 1;
      const seconds = retryAfterSeconds(response);
      const reason = response === null
        ? "the collector cannot be reached, or does not accept this page's address"
        : "the collector is busy";
      show(`Not sent yet: ${reason}. ${waitingCount()} waiting; trying again in ${Math.ceil(seconds)} s.`, true);
      scheduleRetry(seconds);
    } else {
      failures = 0;
      if (outbox.length > 0) flush();
    }
  }

  function waitingCount() {
    return outbox.length === 1 ? "1 click is" : `${outbox.length} clicks are`;
  }

  // No answer, a server error, or a refusal that says to come back later.
  function retryable(response, result) {
    if (response === null) return true;
    const code = result && result.error ? result.error.code : null;
    if (code === "queue_full" || code === "producer_unavailable") return true;
    if (result) return false;
    return response.status >= 500 || response.status === 408 || response.status === 429;
  }

  // The page is going away: hand what is left to the browser, which sends it after the page
  // has gone. Plain text needs no CORS preflight; the clicks stay in the outbox, and if they
  // arrived the collector answers their next sending as repeats.
  function sendWhatIsLeft() {
    if (!navigator.sendBeacon) return;
    for (let start = 0; start < outbox.length; start += BATCH_CLICKS) {
      const batch = JSON.stringify(outbox.slice(start, start + BATCH_CLICKS));
      const blob = new Blob([batch], { type: "text/plain;charset=UTF-8" });
      if (!navigator.sendBeacon(apiBase + "/api/events", blob)) break;
    }
  }

  function click(button) {
    const userName = nameInput.value.trim();
    const colorName = button.dataset.color;
    if (userName === "") {
      show("Type your name first.", true);
      nameInput.focus();
      return;
    }
    if ([...userName].length > MAX_NAME_CHARACTERS) {
      show(`Your name is longer than ${MAX_NAME_CHARACTERS} characters.`, true);
      nameInput.focus();
      return;
    }
    const entry = { eventId: uuidv7(), userName, colorName, clientTimestamp: new Date().toISOString() };
    outbox.push(entry);
    save();
    mark(entry, "sending");
    flush();
  }

  for (const button of document.querySelectorAll("button.color")) {
    button.style.setProperty("--swatch", button.dataset.color);
    button.addEventListener("click", () => click(button));
  }
  document.getElementById("pick").addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("online", () => { failures = 0; flush(); });
  window.addEventListener("pagehide", sendWhatIsLeft);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") sendWhatIsLeft();
  });

  // Clicks left from an earlier visit are shown and sent again.
  for (const entry of outbox) mark(entry, "waiting");
  if (outbox.length > 0) {
    show(`${waitingCount()} waiting from your last visit; sending.`, false);
    flush();
  }
})();
