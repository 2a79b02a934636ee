// Posts each colour click to the producer API and tells the person what happened.
// Everything shown is set with textContent: names are never parsed as markup.
(function () {
  "use strict";
  const apiBase = document.body.dataset.apiBase;
  const nameInput = document.getElementById("user-name");
  const status = document.getElementById("status");
  const history = document.getElementById("history");

  function show(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  function remember(text) {
    const item = document.createElement("li");
    item.textContent = text;
    history.prepend(item);
    while (history.children.length > 20) history.lastElementChild.remove();
  }

  async function send(button) {
    const userName = nameInput.value.trim();
    const colorName = button.dataset.color;
    if (userName === "") {
      show("Type your name first.", true);
      nameInput.focus();
      return;
    }
    button.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(apiBase + "/api/events", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ userName, colorName, clientTimestamp: new Date().toISOString() }),
      });
      let body = null;
      try { body = await response.json(); } catch (_) { body = null; }
      if (response.status === 202 && body && body.eventId) {
        show("Recorded " + colorName + " for " + userName + ".", false);
        remember(colorName + " — " + userName + " (" + body.eventId + ")");
      } else if (body && body.error && body.error.message) {
        show("Not recorded: " + body.error.message, true);
      } else {
        show("Not recorded: the collector answered " + response.status + ".", true);
      }
    } catch (_) {
      show("Not recorded: the collector cannot be reached. Try again in a moment.", true);
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  for (const button of document.querySelectorAll("button.color")) {
    button.style.setProperty("--swatch", button.dataset.color);
    button.addEventListener("click", () => send(button));
  }
  document.getElementById("pick").addEventListener("submit", (event) => event.preventDefault());
})();
