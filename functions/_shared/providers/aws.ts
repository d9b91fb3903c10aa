// What the SES and SNS providers share: the SDK client settings (explicit region, static
// credentials, optional endpoint, the SDK's own retries off) and reading an SDK error.
import { classifyError, httpFailure, invalidResponse } from "./classify.ts";
import { retryAfterMs } from "./http.ts";
import type { ErrorTable, SendResult } from "./types.ts";

/** AWS settings shared by the SES and SNS providers. */
export interface AwsOptions {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** AWS_ENDPOINT_URL (the sandbox's `${url}/aws`); unset means the real regional endpoint. */
  endpoint?: string;
  /** Deadline of one send, in milliseconds. */
  timeoutMs: number;
}

/**
 * The client configuration for `@aws-sdk/client-ses` and `-sns`. Everything the SDK would
 * otherwise look up in the environment or ~/.aws (which Supabase's edge runtime cannot read,
 * VENDORS.md §10) is given: region, static credentials, endpoint. `maxAttempts: 1` turns the
 * SDK's own retries off (by default it retries throttling and 5xx twice, VENDORS.md §2): retries
 * are the dispatcher's job, where they are counted, backed off and sent to the fallback.
 */
export function awsClientConfig(options: AwsOptions) {
  return {
    region: options.region,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 1,
    retryMode: "standard",
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
  };
}

/** The parts of an SDK ServiceException we read. */
interface AwsServiceError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/**
 * An SDK error answered by the service (it has an HTTP status), classified by its error code
 * (`<Code>` of the awsQuery ErrorResponse) through `table`. An error with no HTTP status is not
 * the service's answer (a refused connection, an abort, our deadline): it is rethrown so
 * withDeadline classifies it as network, aborted or timeout.
 */
export function awsFailure(vendor: string, table: ErrorTable, error: unknown): SendResult {
  const e = (error ?? {}) as AwsServiceError;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status !== "number") throw error;
  const headers = new Headers();
  for (const [name, value] of Object.entries(e.$response?.headers ?? {})) {
    if (typeof value === "string") headers.set(name, value);
  }
  const wait = retryAfterMs(headers);
  // A 2xx the SDK could not parse: the service may have accepted the message.
  if (status >= 200 && status < 300) return invalidResponse(vendor, e.message ?? "");
  const code = e.Code ?? e.name;
  // The SDK names an error without a readable <Code> (an HTML 503, an empty 500) "Unknown".
  if (!code || code === "Unknown" || code === "Error") {
    return httpFailure(status, e.message === "Unknown" ? "" : e.message ?? "", wait);
  }
  return classifyError(table, code, e.message ?? "", wait);
}
