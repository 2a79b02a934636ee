// A person clicks colours, then watches the results page in headless Chromium: the counts
// arrive by themselves, the search server goes away and comes back, and the page says so each
// time. Steps are driven from outside: after each step the script prints one JSON line and
// waits for a line on standard input before the next (the caller stops and starts the search
// server in between). Exits non-zero when the page misbehaves.
//
// usage: node see-the-results.mjs <page-url> <results-url> <screenshot-dir>
//   clicks: red ×3, blue ×2, green ×1; the caller checks the counts printed at "shown"
//   "shown"        counts, own clicks and the time a new click took to appear; screenshots
//                  (light and dark, the page and the colour chart) written
//   "unavailable"  the page's message while the search server does not answer, and a click
//                  recorded meanwhile
//   "recovered"    the counts, that click included, once it answers again
import { launch, watch } from "./browser.mjs";
import { createInterface } from "node:readline";
import { join } from "node:path";

const [pageUrl, resultsUrl, shotDir] = process.argv.slice(2);
if (!pageUrl || !resultsUrl || !shotDir) {
  console.error("usage: node see-the-results.mjs <page-url> <results-url> <screenshot-dir>");
  process.exit(2);
}

const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
async function step(name, facts) {
  console.log(JSON.stringify({ step: name, ...facts }));
  const { done } = await lines.next();
  if (done) throw new Error(`standard input closed after ${name}`);
}

const failures = [];
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
  const colours = await context.newPage();
  watch(colours, failures);
  await colours.goto(pageUrl);
  await colours.fill("#user-name", "민수");
  const click = async (colour) => {
    const recordedBefore = await colours.locator('#history li[data-state="recorded"]').count();
    await colours.click(`button.color[data-color="${colour}"]`);
    await colours.waitForFunction(
      (n) => document.querySelectorAll('#history li[data-state="recorded"]').length > n,
      recordedBefore, { timeout: 15000 });
  };
  for (const colour of ["red", "red", "red", "blue", "blue", "green"]) await click(colour);

  // The results page, opened from the colour page's link.
  const results = await context.newPage();
  watch(results, failures);
  await results.goto(pageUrl);
  await Promise.all([results.waitForURL(resultsUrl), results.click('a[href="/results"]')]);
  const counts = () => results.evaluate(() => Object.fromEntries(
    Array.from(document.querySelectorAll("#colour-table tbody tr"),
      (row) => [row.cells[0].textContent, Number(row.cells[1].textContent)])));
  await results.waitForFunction(() => {
    const indexed = document.querySelectorAll('#own-clicks li[data-state="indexed"]').length;
    return document.body.dataset.results === "shown" && indexed === 6;
  }, null, { timeout: 30000 });

  // A new click, made while the page is open, shows without a reload: how long it took.
  const greenBefore = (await counts()).green;
  await click("green");
  const clicked = Date.now();
  await results.waitForFunction((n) => {
    for (const row of document.querySelectorAll("#colour-table tbody tr")) {
      if (row.cells[0].textContent === "green") return Number(row.cells[1].textContent) > n;
    }
    return false;
  }, greenBefore, { timeout: 30000 });
  const appearedMs = Date.now() - clicked;
  await results.waitForFunction(
    () => document.querySelectorAll('#own-clicks li[data-state="indexed"]').length === 7,
    null, { timeout: 30000 });

  const own = await results.$$eval("#own-clicks li", (items) => items.map((li) => li.textContent));
  const stages = await results.$$eval(".stage", (cards) => cards.map((card) => ({
    stage: card.dataset.stage,
    condition: card.dataset.condition,
    facts: Object.fromEntries(Array.from(card.querySelectorAll("dd"), (dd) => [dd.dataset.fact, dd.textContent])),
  })));
  const browsers = await results.$$eval("#browser-table tbody tr",
    (rows) => rows.map((row) => Array.from(row.cells, (cell) => cell.textContent)));
  const minutes = await results.$$eval("#time-table tbody tr",
    (rows) => rows.map((row) => Number(row.cells[1].textContent)));
  const shots = {};
  for (const scheme of ["light", "dark"]) {
    await results.emulateMedia({ colorScheme: scheme });
    await results.waitForTimeout(300);
    shots[scheme] = join(shotDir, `results-${scheme}.png`);
    await results.screenshot({ path: shots[scheme], fullPage: true });
    await results.locator("#colour-chart").screenshot({ path: join(shotDir, `colour-chart-${scheme}.png`) });
    await results.locator("#time-chart").screenshot({ path: join(shotDir, `time-chart-${scheme}.png`) });
  }
  await results.emulateMedia({ colorScheme: "light" });
  // On a phone's width, nothing is wider than the screen.
  await results.setViewportSize({ width: 390, height: 844 });
  await results.waitForTimeout(300);
  const overflow = await results.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await results.screenshot({ path: join(shotDir, "results-phone.png"), fullPage: true });
  await results.setViewportSize({ width: 900, height: 1000 });
  await step("shown", { counts: await counts(), own, stages, browsers, minutes, appearedMs, overflow });

  // The search server does not answer: the page says so, and the colour page still records.
  await results.waitForFunction(() => document.body.dataset.results === "unavailable", null, { timeout: 20000 });
  const message = await results.textContent("#results-status");
  await click("purple");
  const headline = await results.textContent("#headline");
  await step("unavailable", { message, headline, purpleRecorded: true });

  // It answers again: the page recovers by itself, the purple click counted.
  await results.waitForFunction(() => {
    if (document.body.dataset.results !== "shown") return false;
    for (const row of document.querySelectorAll("#colour-table tbody tr")) {
      if (row.cells[0].textContent === "purple") return Number(row.cells[1].textContent) === 1;
    }
    return false;
  }, null, { timeout: 90000 });
  console.log(JSON.stringify({ step: "recovered", counts: await counts(), failures }));
} catch (error) {
  console.log(JSON.stringify({ step: "failed", error: String(error), failures }));
  process.exitCode = 1;
} finally {
  input.close();
  await browser.close();
}
if (failures.length > 0) process.exitCode = 1;
