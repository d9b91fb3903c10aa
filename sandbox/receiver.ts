// A tiny webhook receiver for tests of the sandbox's callbacks (and of anything else that posts
// webhooks): it records every request as received, raw body included, and answers a status the
// test chooses.

/** A request the receiver got. */
export interface ReceivedRequest {
  method: string;
  /** The full URL as the sender called it (scheme, host, port, path, query). */
  url: string;
  path: string;
  headers: Headers;
  /** The raw body, exactly as sent. */
  body: string;
  /** When it arrived (ms since the epoch). */
  at: number;
}

/** A running receiver. */
export interface Receiver {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  received: ReceivedRequest[];
  /** The status the next requests get (default 200); may be set per path with `statusFor`. */
  status: number;
  statusFor: Map<string, number>;
  /** How many of the next requests get 500 instead (a receiver that is briefly down). */
  refuseNext: number;
  /** Resolves with the requests once `predicate` holds for them; rejects after `timeoutMs`. */
  waitFor(
    predicate: (received: ReceivedRequest[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** Starts a receiver on a free port of 127.0.0.1. */
export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  let wake: Array<() => void> = [];
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const receiver: Receiver = {
    url: "",
    received,
    status: 200,
    statusFor: new Map(),
    refuseNext: 0,
    waitFor: (predicate, timeoutMs = 5000) =>
      new Promise((done, fail) => {
        const check = () => {
          if (!predicate(received)) return false;
          clearTimeout(timer);
          done(received);
          return true;
        };
        const timer = setTimeout(() => {
          wake = wake.filter((w) => w !== listener);
          fail(
            new Error(
              `receiver: condition not met in ${timeoutMs} ms (${received.length} received)`,
            ),
          );
        }, timeoutMs);
        const listener = () => {
          if (check()) wake = wake.filter((w) => w !== listener);
        };
        if (!check()) wake.push(listener);
      }),
    close: () => server.shutdown(),
  };
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, async (request) => {
    const url = new URL(request.url);
    received.push({
      method: request.method,
      url: request.url,
      path: url.pathname,
      headers: request.headers,
      body: await request.text(),
      at: Date.now(),
    });
    for (const listener of [...wake]) listener();
    if (receiver.refuseNext > 0) {
      receiver.refuseNext--;
      return new Response(null, { status: 500 });
    }
    return new Response(null, { status: receiver.statusFor.get(url.pathname) ?? receiver.status });
  });
  receiver.url = `http://127.0.0.1:${(await promise).port}`;
  return receiver;
}
