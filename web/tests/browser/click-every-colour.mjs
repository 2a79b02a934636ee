// Opens the colour page in headless Chromium, types a name, clicks every colour button with
// the keyboard or the mouse, and checks what the person is shown. Prints one JSON line with
// what it saw; exits non-zero when the page misbehaves.
//
// usage: node click-every-colour.mjs <page-url> <user-name>
import { chromium } from "playwright-core";

const [pageUrl, userName] = process.argv.slice(2);
if (!pageUrl || !userName) {
  console.error("usage: node click-every-colour.mjs <page-url> <user-name>");
  process.exit(2);
}

const failures = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  page.on("dialog", async (dialog) => {
    failures.push(`a dialog opened: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") failures.push(`console error: ${message.text()}`);
  });

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

  console.log(JSON.stringify({ colours, statuses, failures }));
} finally {
  await browser.close();
}
process.exit(failures.length === 0 ? 0 : 1);
