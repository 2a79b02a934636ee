// What the browser tests share: headless Chromium as the tests launch it (Debian's, or
// CHROMIUM_PATH), and a page watched for what a person would see go wrong.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
  });
}

// Adds to `failures` every dialog the page opens, every uncaught error and every console
// error. The browser also reports each request that fails to the console; the tests make some
// fail on purpose, so those are left to the tests' own checks.
export function watch(page, failures) {
  page.on("dialog", async (dialog) => {
    failures.push(`a dialog opened: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      failures.push(`console error: ${message.text()}`);
    }
  });
}
