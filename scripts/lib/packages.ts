// Makes sure the Debian packages of the local stack are installed, or says what to run.
import { isRoot, run, tryRun } from "./run.ts";

export const debianPackages = [
  "postgresql-15",
  "postgresql-client-15",
  "postgresql-15-cron",
  "postgresql-15-pgtap",
  "postgresql-15-plpgsql-check",
  "libtap-parser-sourcehandler-pgtap-perl",
  // Headless browser for the API docs page test (tests/functions/docs_page.test.ts).
  "chromium",
  // `ss`, which reads the gateway's listen queue (tests/functions/gateway.test.ts).
  "iproute2",
];

async function missingPackages(): Promise<string[]> {
  const missing = [];
  for (const name of debianPackages) {
    const { code, stdout } = await tryRun("dpkg-query", ["-W", "-f=${Status}", name]);
    if (code !== 0 || !stdout.includes("install ok installed")) missing.push(name);
  }
  return missing;
}

/** Installs missing packages with apt-get as root; as anyone else, says exactly what to run. */
export async function ensureDebianPackages(): Promise<void> {
  const missing = await missingPackages();
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (!isRoot) {
    throw new Error(
      `Missing Debian packages: ${
        missing.join(", ")
      }.\nInstall them with:\n  sudo sh -c '${command}'`,
    );
  }
  console.log(`Installing ${missing.join(", ")} ...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update", "-qq"], { env });
  await run("apt-get", ["install", "-y", "-qq", ...missing], { env });
}
