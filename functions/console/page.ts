// The ops console's one HTML page: markup only. Its script and style sheet are files of their
// own (static/), Chart.js is the pinned package's bundle, all served by this function, so the
// Content-Security-Policy allows nothing but this origin and no inline script or style.
import type { Asset } from "./assets.ts";

/**
 * What the page may load and call: its own files, and the `api` function on the same origin
 * (/functions/v1/api, locally and on Supabase). No inline script or style, no frames, no forms
 * posted anywhere (the sign-in form is handled by the script).
 */
export const consoleContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Escapes text for an HTML attribute value (the asset routes are ours, but still). */
const attribute = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;");

/**
 * The page, loading `assets` (style sheets and scripts, in order) by paths relative to the page's
 * URL: the page is /functions/v1/console, so `./console/assets/...` is this function's route.
 */
export function consolePage(assets: Asset[]): string {
  const href = (asset: Asset) => attribute(`./console${asset.route}`);
  const links = assets.map((asset) =>
    asset.spec.contentType.startsWith("text/css")
      ? `<link rel="stylesheet" href="${href(asset)}">`
      : `<script src="${href(asset)}" defer></script>`
  ).join("\n    ");
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>Ops console · Py360 Renewal</title>
    <link rel="icon" href="data:,">
    ${links}
  </head>
  <body>
    <header>
      <h1>Ops console</h1>
      <p id="who" hidden></p>
      <button id="sign-out" type="button" hidden>Sign out</button>
    </header>

    <form id="sign-in" hidden>
      <p>Sign in with an admin's or a manager's access token (the session token of the desk;
        <code>npm run token -- &lt;email&gt;</code> locally). It is kept in this tab only.</p>
      <label for="token">Access token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
      <button type="submit">Open the console</button>
    </form>

    <p id="notice" role="alert" hidden></p>

    <main id="panels" hidden>
      <section class="panel wide" id="funnel-panel" aria-labelledby="funnel-title">
        <h2 id="funnel-title">Renewal funnel: cases by stage</h2>
        <p class="controls">
          <label for="node">Node</label> <select id="node"></select>
          <label for="period">Cases due</label>
          <select id="period">
            <option value="today" selected>today</option>
            <option value="last30">in the last 30 days</option>
            <option value="next30">in the next 30 days</option>
          </select>
          <span class="facts-as-of"></span>
        </p>
        <p class="status" role="status"></p>
        <div class="chart"><canvas id="funnel-chart" aria-label="Cases by stage"></canvas></div>
        <table id="funnel-children" hidden>
          <caption>Each child node, side by side</caption>
          <thead></thead>
          <tbody></tbody>
        </table>
      </section>

      <section class="panel" id="delivery-panel" aria-labelledby="delivery-title">
        <h2 id="delivery-title">Delivery rate per channel, 30 days</h2>
        <p class="status" role="status"></p>
        <div class="chart"><canvas id="delivery-chart" aria-label="Delivered of sent, per day"></canvas></div>
      </section>

      <section class="panel" id="latency-panel" aria-labelledby="latency-title">
        <h2 id="latency-title">Queue to delivered, p95 per channel, 30 days</h2>
        <p class="status" role="status"></p>
        <div class="chart"><canvas id="latency-chart" aria-label="Seconds, per day"></canvas></div>
      </section>

      <section class="panel" id="vendors-panel" aria-labelledby="vendors-title">
        <h2 id="vendors-title">Vendor health</h2>
        <p class="status" role="status"></p>
        <table id="vendors-table" hidden>
          <thead></thead>
          <tbody></tbody>
        </table>
      </section>

      <section class="panel" id="spend-panel" aria-labelledby="spend-title">
        <h2 id="spend-title">Spend this month vs budget</h2>
        <p class="status" role="status"></p>
        <div class="chart"><canvas id="spend-chart" aria-label="Rupees per vendor"></canvas></div>
      </section>

      <section class="panel" id="queue-panel" aria-labelledby="queue-title">
        <h2 id="queue-title">Queue depth</h2>
        <p class="status" role="status"></p>
        <div class="chart"><canvas id="queue-chart" aria-label="Queued messages per vendor"></canvas></div>
      </section>

      <section class="panel wide" id="alerts-panel" aria-labelledby="alerts-title">
        <h2 id="alerts-title">Open alerts</h2>
        <p class="status" role="status"></p>
        <table id="alerts-table" hidden>
          <thead></thead>
          <tbody></tbody>
        </table>
      </section>
    </main>
  </body>
</html>
`;
}
