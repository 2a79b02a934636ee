// Opens the colour page in headless Chromium, types a name, clicks every colour button with
// the keyboard or the mouse, and checks what the person is shown. Then clicks where clicks get
// lost: offline, during a 503, across a reload while the collector is unreachable, and just
// before leaving the page. Prints one JSON line with what it saw (`sent`: every click made, by
// colour, which the caller finds in the topic exactly once each); exits non-zero when the page
// misbehaves.
//
// usage: node click-every-colour.mjs <page-url> <user-name>
import { launch, watch } from "./browser.mjs";

const [pageUrl, userName] = process.argv.slice(2);
if (!pageUrl || !userName) {
  console.error("usage: node click-every-colour.mjs <page-url> <user-name>");
  process.exit(2);
}

const failures = [];
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  watch(page, failures);

  await page.goto(pageUrl);
  const colours = await page.$$eval("button.color", (buttons) => buttons.map((b) => b.dataset.color));
  if (colours.length === 0) failures.push("no colour buttons on the page");

  // A click without a name is refused on the page itself.
  await page.click(`button[data-color="${colours[0]}"]`);
  const refusal = await page.textContent("#status");
  if (!/name/i.test(refusal)) failures.push(`no hint to type a name first: ${JSON.stringify(refusal)}`);

  await page.fill("#user-name", userName);
  const statuses = [];
  for (const [index, colour] of colours.entries()) {
    const answered = page.waitForResponse((r) => r.url().endsWith("/api/events") && r.request().method() === "POST");
    if (index % 2 === 0) {
      await page.click(`button[data-color="${colour}"]`);
    } else {
      // Keyboard: focus the button and press Enter, as a person without a mouse would.
      await page.focus(`button[data-color="${colour}"]`);
      await page.keyboard.press("Enter");
    }
    const response = await answered;
    if (response.status() !== 202) failures.push(`${colour}: collector answered ${response.status()}`);
    await page.waitForFunction(
      (c) => document.querySelector("#status").textContent.includes(`Recorded ${c}`),
      colour,
      { timeout: 10_000 },
    );
    statuses.push(await page.textContent("#status"));
  }

  for (const [index, status] of statuses.entries()) {
    if (!status.includes(userName)) failures.push(`status ${index} does not show the name as text: ${status}`);
  }
  const injected = await page.$$eval("#status img, #history img, main img", (els) => els.length);
  if (injected > 0) failures.push(`${injected} <img> elements were injected from the name`);
  const historyItems = await page.$$eval("#history li", (items) => items.length);
  if (historyItems !== colours.length) failures.push(`history shows ${historyItems} clicks, expected ${colours.length}`);

  const sent = [...colours];
  const apiEvents = (url) => url.pathname === "/api/events";
  const stateOf = (n) => page.$$eval("#history li", (items, i) => items[i] && items[i].dataset.state, n);
  const outboxSize = () => page.evaluate(() => JSON.parse(localStorage.getItem("web-events.outbox") || "[]").length);
  const waitForState = async (what, state, timeout = 15_000) => {
    try {
      await page.waitForFunction((s) => document.querySelector("#history li").dataset.state === s, state, { timeout });
    } catch (_) {
      failures.push(`${what}: the click never became ${state} (it is ${await stateOf(0)})`);
    }
  };
  const clickColour = async (colour) => {
    await page.click(`button[data-color="${colour}"]`);
    sent.push(colour);
  };

  // The same colour twice says something new each time, so a screen reader announces it.
  const before = await page.textContent("#status");
  await clickColour(colours[colours.length - 1]);
  await waitForState("a repeated colour", "recorded");
  const after = await page.textContent("#status");
  if (after === before) failures.push(`a repeated click left the same status: ${after}`);

  // Offline: the clicks wait, are kept, and go when the browser is back online.
  await context.setOffline(true);
  await clickColour("red");
  await waitForState("offline", "waiting");
  await clickColour("blue");
  await waitForState("offline", "waiting");
  if ((await outboxSize()) !== 2) failures.push(`offline: ${await outboxSize()} clicks kept, expected 2`);
  if (!/Not sent yet/.test(await page.textContent("#status"))) failures.push("offline: no word of waiting clicks");
  await context.setOffline(false);
  await waitForState("back online", "recorded");
  if (await stateOf(1) !== "recorded") failures.push("back online: the first offline click was not recorded");
  if ((await outboxSize()) !== 0) failures.push(`back online: ${await outboxSize()} clicks still kept`);

  // A 503 with Retry-After: the click is sent again after it, and recorded.
  let answered503 = 0;
  await page.route(apiEvents, async (route) => {
    if (answered503 === 0 && route.request().method() === "POST") {
      answered503 += 1;
      await route.fulfill({
        status: 503,
        headers: { "Retry-After": "1", "Content-Type": "application/json", "Access-Control-Allow-Origin": new URL(pageUrl).origin },
        body: JSON.stringify({ error: { code: "queue_full", message: "the event queue is full; retry shortly" } }),
      });
    } else {
      await route.continue();
    }
  });
  await clickColour("green");
  await waitForState("after a 503", "recorded");
  await page.unroute(apiEvents);

  // Unreachable collector, then a reload: the click survives in localStorage and is sent later.
  await page.route(apiEvents, (route) => route.abort("connectionrefused"));
  await clickColour("yellow");
  await waitForState("collector unreachable", "waiting");
  await page.reload();
  await waitForState("after a reload", "waiting");
  await page.fill("#user-name", userName);
  await page.unroute(apiEvents);
  await waitForState("after a reload", "recorded");

  // Leaving the page with a click unsent: it goes as a beacon while the page closes.
  await page.route(apiEvents, (route) =>
    route.request().headers()["content-type"]?.startsWith("text/plain") ? route.continue() : route.abort("connectionrefused"));
  await clickColour("orange");
  await waitForState("before leaving", "waiting");
  await page.goto("about:blank");
  await page.unroute(apiEvents);

  // Layout: two rows of three on a phone, one row on a desktop; outlined in dark mode too; a
  // name of 64 emoji fits the box. In a fresh context, whose storage holds no click to resend.
  const fresh = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const layout = await fresh.newPage();
  await layout.goto(pageUrl);
  const rows = () => layout.$$eval("button.color", (bs) => new Set(bs.map((b) => b.getBoundingClientRect().top)).size);
  if ((await rows()) !== 2) failures.push(`phone: the colours take ${await rows()} rows, expected 2`);
  await layout.setViewportSize({ width: 1280, height: 800 });
  if ((await rows()) !== 1) failures.push(`desktop: the colours take ${await rows()} rows, expected 1`);
  await layout.emulateMedia({ colorScheme: "dark" });
  // The border against the button's background: a contrast ratio of at least 2, as WCAG counts it.
  const unbordered = await layout.$$eval("button.color", (bs) => bs.filter((b) => {
    const rgba = (text) => (text.match(/[\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const linear = (c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
      return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const style = getComputedStyle(b);
    const background = rgba(style.backgroundColor);
    const [r, g, bl, a = 1] = rgba(style.borderTopColor);
    const border = [r, g, bl].map((c, i) => c * a + background[i] * (1 - a));
    const [light, dark] = [luminance(border), luminance(background)].sort((x, y) => y - x);
    return style.borderTopWidth === "0px" || (light + 0.05) / (dark + 0.05) < 2;
  }).length);
  if (unbordered > 0) failures.push(`dark mode: ${unbordered} buttons have no visible border`);
  await layout.fill("#user-name", "🎨".repeat(64));
  const kept = await layout.$eval("#user-name", (input) => [...input.value].length);
  if (kept !== 64) failures.push(`a name of 64 emoji keeps ${kept} of them`);

  console.log(JSON.stringify({ colours, statuses, sent, failures }));
} finally {
  await browser.close();
}
process.exit(failures.length === 0 ? 0 : 1);
