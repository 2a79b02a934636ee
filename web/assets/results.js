// Draws what the clicks became: asks this page's server every second for the shared snapshot
// (clicks per colour, per minute, per browser; each stage's health) and for this person's own
// latest clicks, then draws the charts as SVG and writes every number as text too.
// Everything shown is set with textContent or SVG attributes: nothing is parsed as markup.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const RECORDED_KEY = "web-events.recorded";
  const REFRESH_MS = 1000;
  const TIMEOUT_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const status = $("results-status");

  function svgElement(name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function cell(row, text, header) {
    const element = document.createElement(header ? "th" : "td");
    if (header) element.scope = "row";
    element.textContent = text;
    row.append(element);
  }

  function fillTable(id, rows) {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    for (const values of rows) {
      const row = body.insertRow();
      values.forEach((value, i) => cell(row, String(value), i === 0));
    }
  }

  // Charts are drawn in CSS pixels of their own width, so their text keeps its size on a phone.
  function widthOf(chart) {
    return Math.max(280, Math.round(chart.getBoundingClientRect().width) || 600);
  }

  function minuteLabel(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // One horizontal bar per colour, in that colour, with its name and count as text.
  function drawColours(colours) {
    const chart = $("colour-chart");
    const width = widthOf(chart), row = 30, labelWidth = 110;
    const barSpace = width - labelWidth - 50;
    const most = Math.max(1, ...colours.map((c) => c.count));
    chart.setAttribute("viewBox", `0 0 ${width} ${Math.max(1, colours.length) * row}`);
    chart.replaceChildren();
    colours.forEach((c, i) => {
      const y = i * row;
      chart.append(svgElement("text", { x: 0, y: y + 20, class: "label" }, c.colour));
      const barWidth = c.count === 0 ? 0 : Math.max(4, (c.count / most) * barSpace);
      chart.append(svgElement("rect", {
        x: labelWidth, y: y + 4, width: barWidth, height: row - 8,
        fill: c.fill, class: "bar", "data-colour": c.colour,
      }));
      chart.append(svgElement("text", { x: labelWidth + barWidth + 6, y: y + 20, class: "count" }, String(c.count)));
    });
    fillTable("colour-table", colours.map((c) => [c.inPalette ? c.colour : `${c.colour} (not in the palette)`, c.count]));
  }

  // A column per minute, stacked by colour, the current minute last.
  function drawMinutes(minutes, colours) {
    const chart = $("time-chart");
    const width = widthOf(chart), height = 200, top = 16, bottom = 22, left = 30;
    const plot = height - top - bottom;
    const column = (width - left) / Math.max(1, minutes.length);
    const most = Math.max(1, ...minutes.map((m) => m.total));
    const fills = new Map(colours.map((c) => [c.colour, c.fill]));
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    chart.replaceChildren();
    chart.append(svgElement("line", { x1: left, y1: top + plot, x2: width, y2: top + plot, class: "axis" }));
    chart.append(svgElement("text", { x: 0, y: top + 4, class: "tick" }, String(most)));
    chart.append(svgElement("text", { x: 0, y: top + plot, class: "tick" }, "0"));
    minutes.forEach((m, i) => {
      let y = top + plot;
      for (const [colour, count] of m.colours) {
        if (count === 0) continue;
        const h = (count / most) * plot;
        y -= h;
        chart.append(svgElement("rect", {
          x: left + i * column + 1, y, width: Math.max(1, column - 2), height: h,
          fill: fills.get(colour) || "gray", class: "bar", "data-colour": colour,
        }));
      }
    });
    if (minutes.length > 0) {
      chart.append(svgElement("text", { x: left, y: height - 4, class: "tick" }, minuteLabel(minutes[0].minute)));
      chart.append(svgElement("text", { x: width, y: height - 4, class: "tick end" }, minuteLabel(minutes[minutes.length - 1].minute)));
    }
    fillTable("time-table", minutes.filter((m) => m.total > 0).map((m) => [minuteLabel(m.minute), m.total]));
  }

  let shown = null; // the overview drawn last, drawn again when the page's width changes

  function drawOverview(overview) {
    shown = overview;
    $("total").textContent = String(overview.total);
    drawColours(overview.colours);
    drawMinutes(overview.perMinute, overview.colours);
    fillTable("browser-table", overview.browsers.map((b) => [b.browser, b.os, b.count]));
  }

  function recorded() {
    try {
      const stored = JSON.parse(localStorage.getItem(RECORDED_KEY) || "[]");
      return Array.isArray(stored) ? stored.filter((c) => c && typeof c.eventId === "string") : [];
    } catch (_) {
      return [];
    }
  }

  function drawOwn(mine, answer) {
    const list = $("own-clicks");
    list.replaceChildren();
    if (mine.length === 0) {
      const item = document.createElement("li");
      item.textContent = "No clicks from this browser yet.";
      list.append(item);
      return;
    }
    const found = new Map((answer.ok || []).map((c) => [c.eventId, c]));
    for (const click of mine) {
      const item = document.createElement("li");
      const indexed = found.get(click.eventId);
      const time = new Date(click.clientTimestamp).toLocaleTimeString();
      item.dataset.eventId = click.eventId;
      if (indexed) {
        item.dataset.state = "indexed";
        item.textContent = `${time} ${indexed.colour} by ${indexed.userName}: indexed (${indexed.browser} on ${indexed.os})`;
      } else {
        item.dataset.state = answer.unavailable ? "unknown" : "waiting";
        item.textContent = `${time} ${click.colorName}: ${answer.unavailable ? "unknown" : "not indexed yet"}`;
      }
      list.append(item);
    }
  }

  const CONDITIONS = { ok: "ready", behind: "behind", "not-ready": "not ready", down: "down" };

  function drawStages(headline, stages) {
    $("headline").textContent = headline;
    const box = $("stages");
    box.replaceChildren();
    for (const stage of stages) {
      const card = document.createElement("article");
      card.className = "stage";
      card.dataset.stage = stage.name;
      card.dataset.condition = stage.condition.state;
      const title = document.createElement("h3");
      title.textContent = `${stage.name}: ${CONDITIONS[stage.condition.state] || stage.condition.state}`;
      card.append(title);
      if (stage.condition.reason) {
        const reason = document.createElement("p");
        reason.className = "reason";
        reason.textContent = stage.condition.reason;
        card.append(reason);
      }
      const facts = document.createElement("dl");
      const fact = (label, value) => {
        const term = document.createElement("dt");
        term.textContent = label;
        const detail = document.createElement("dd");
        detail.textContent = value === null || value === undefined ? "unknown" : String(value);
        detail.dataset.fact = label;
        facts.append(term, detail);
      };
      for (const count of stage.counts) fact(count.label, count.value);
      fact("answering", `${stage.answering} of ${stage.processes}`);
      card.append(facts);
      box.append(card);
    }
  }

  function showStatus(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  async function refresh() {
    const mine = recorded();
    const ids = mine.map((c) => c.eventId).join(",");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(`/results/data?eventIds=${encodeURIComponent(ids)}`, {
        signal: controller.signal, cache: "no-store",
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error ? data.error.message : `answered ${response.status}`);
      if (data.overview.ok) {
        drawOverview(data.overview.ok);
        showStatus(`Updated ${new Date(data.takenAt).toLocaleTimeString()}.`, false);
        document.body.dataset.results = "shown";
      } else {
        showStatus(`Results unavailable: ${data.overview.unavailable}`, true);
        document.body.dataset.results = "unavailable";
      }
      drawOwn(mine, data.ownClicks);
      drawStages(data.headline, data.stages);
    } catch (error) {
      showStatus(`Results unavailable: this page's server does not answer (${error.message}).`, true);
      document.body.dataset.results = "unavailable";
    } finally {
      clearTimeout(timer);
      setTimeout(refresh, REFRESH_MS);
    }
  }

  window.addEventListener("resize", () => {
    if (shown) drawOverview(shown);
  });
  refresh();
})();
