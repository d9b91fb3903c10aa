// The files the ops console's page loads, all served by this function: nothing comes from a CDN,
// so the page works on a machine without internet and its Content-Security-Policy can be 'self'.
//
// - Chart.js's UMD bundle, from the npm package pinned in package.json (dependencies) and
//   installed into node_modules by `npm ci`;
// - the page's own script and style sheet, plain files next to this module (static/), served as
//   they are: no build step.
//
// Each is read once per worker through a path relative to this module, which holds in both places
// the function runs: locally (`npm start`, tests) from the checkout, and on Supabase because
// supabase/config.toml lists the files in the function's `static_files`, which `supabase
// functions deploy` uploads with the code at the same relative paths. Their routes carry a
// version (Chart.js's) or a hash of the content (the page's files), so browsers keep them for good.
import { ProblemError } from "../_shared/errors.ts";
import packageJson from "../../package.json" with { type: "json" };

/** The pinned version of chart.js whose bundle the page runs. */
export const chartJsVersion = packageJson.dependencies["chart.js"];

/** One file the page loads: where it is (from the project root) and how it is served. */
export interface AssetFile {
  /** Path from the project root, as listed in static_files. */
  file: string;
  contentType: string;
  /** The route's name under /console/assets/, given the file's hash when it is not versioned. */
  name: (hash: string) => string;
}

/** Chart.js's UMD build: one classic script defining `window.Chart`. */
export const chartBundle: AssetFile = {
  file: "node_modules/chart.js/dist/chart.umd.js",
  contentType: "text/javascript; charset=utf-8",
  name: () => `chart-${chartJsVersion}.umd.js`,
};

/** The page's script: signs in with a token, calls the api function, draws the panels. */
export const pageScript: AssetFile = {
  file: "functions/console/static/console.js",
  contentType: "text/javascript; charset=utf-8",
  name: (hash) => `console-${hash}.js`,
};

/** The page's style sheet. */
export const pageStyles: AssetFile = {
  file: "functions/console/static/console.css",
  contentType: "text/css; charset=utf-8",
  name: (hash) => `console-${hash}.css`,
};

/** Every file the page loads, in the order the page lists them. */
export const assetFiles = [pageStyles, chartBundle, pageScript];

/** A file read: its bytes and the route it is served at (under /console/assets/). */
export interface Asset {
  spec: AssetFile;
  body: Uint8Array;
  route: string;
}

const cache = new Map<string, Promise<Asset>>();

/** Reads `spec` once per worker; a 503 problem saying what to run when the file is missing. */
export function readAsset(spec: AssetFile): Promise<Asset> {
  let asset = cache.get(spec.file);
  if (!asset) {
    asset = load(spec).catch((error) => {
      cache.delete(spec.file);
      throw error;
    });
    cache.set(spec.file, asset);
  }
  return asset;
}

async function load(spec: AssetFile): Promise<Asset> {
  let body: Uint8Array;
  try {
    body = await Deno.readFile(new URL(`../../${spec.file}`, import.meta.url));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new ProblemError(
      503,
      "Service Unavailable",
      `The console's file ${spec.file} is not installed: run \`npm ci\`, and deploy with ` +
        "supabase/config.toml's static_files.",
    );
  }
  const digest = await crypto.subtle.digest("SHA-256", body.slice());
  const hash = Array.from(
    new Uint8Array(digest).subarray(0, 8),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
  return { spec, body, route: `/assets/${spec.name(hash)}` };
}

/** Every asset, read (once), in the order of `assetFiles`. */
export function readAssets(): Promise<Asset[]> {
  return Promise.all(assetFiles.map(readAsset));
}
