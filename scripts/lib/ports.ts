// Ports of the local stack. 54321 and 54322 sit inside Linux's ephemeral range (32768-60999):
// any client connection may borrow one as its local port, and its TIME_WAIT then blocks the
// server from binding it for a minute. Reserving them keeps the kernel from handing them out.
import { isRoot } from "./run.ts";

export const stackPorts = { functions: 54321, database: 54322 };
const reservedPorts = "/proc/sys/net/ipv4/ip_local_reserved_ports";

/** Reserves the stack's ports against ephemeral use (root only; otherwise a hint). */
export async function reserveStackPorts(): Promise<void> {
  const wanted = `${stackPorts.functions}-${stackPorts.database}`;
  let current: string;
  try {
    current = (await Deno.readTextFile(reservedPorts)).trim();
  } catch {
    return; // not Linux, or no /proc: nothing to do
  }
  if (current.split(",").includes(wanted)) return;
  if (!isRoot) {
    console.warn(
      `Hint: sudo sysctl -w net.ipv4.ip_local_reserved_ports=${
        [current, wanted].filter(Boolean).join(",")
      }`,
    );
    return;
  }
  await Deno.writeTextFile(reservedPorts, [current, wanted].filter(Boolean).join(","))
    .catch(() => {});
}

/** Whether a server already answers on the port (a bind test would trip over TIME_WAIT). */
export async function portIsTaken(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on now, for a throwaway server. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
