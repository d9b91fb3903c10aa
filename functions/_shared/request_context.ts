// The HTTP request the running code serves, carried through its async work without being passed
// (AsyncLocalStorage): createApp's middleware enters it, db.ts reads it to set `request.id` in
// every transaction, and the audit log records that id (migration *_make_audit_log_immutable).
import { AsyncLocalStorage } from "node:async_hooks";

const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/**
 * Runs `work` with `requestId` (the X-Request-Id the app answers) as the current request id of
 * everything it starts, awaited or not. Returns what `work` returns.
 */
export function withRequestId<T>(requestId: string, work: () => T): T {
  return requestContext.run({ requestId }, work);
}

/** The request id of the code running now, or null outside a request (jobs, the dispatcher). */
export function currentRequestId(): string | null {
  return requestContext.getStore()?.requestId ?? null;
}
