// What every browser test shares: how Debian's Chromium is launched headless with no network of
// its own, and which URLs count as this machine's (everything else a page asks for is refused
// and reported by the test).

/** The path of Debian's `chromium` package, driven through playwright-core. */
export const chromiumPath = "/usr/bin/chromium";

/** Headless, no sandbox (root in CI), and none of Chrome's own calls home. */
export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Whether a page's request stays on this machine (loopback, or data:, blob:, about:). */
export const isLocal = (url: URL) =>
  ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname) ||
  ["data:", "blob:", "about:"].includes(url.protocol);
