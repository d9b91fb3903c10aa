// Social token refresh on a timer, for the local stack and self-hosted operators without pg_net
// (on Supabase pg_cron + pg_net can POST /oauth/refresh instead): every `everyMs` (default 10
// minutes) the tokens that expire soon are refreshed (functions/_shared/social/connections.ts)
// and what a key rotation left under the previous key is encrypted again (rekey.ts).
// Nothing runs while SOCIAL_TOKEN_ENCRYPTION_KEY is not set.
import { config } from "../../functions/_shared/config.ts";
import { log } from "../../functions/_shared/log.ts";
import { refreshDueConnections } from "../../functions/_shared/social/connections.ts";
import { rekeyStaleTokens } from "../../functions/_shared/social/rekey.ts";
import { type PeriodicJob, startPeriodic } from "./periodic.ts";

/** Starts refreshing every `everyMs` milliseconds (default 10 minutes), one run at a time. */
export function startSocialRefresher({ everyMs = 600_000 } = {}): PeriodicJob {
  return startPeriodic({
    everyMs,
    enabled: () => Boolean(config().SOCIAL_TOKEN_ENCRYPTION_KEY),
    run: async () => {
      const results = await refreshDueConnections();
      const acted = results.filter((r) => r.outcome !== "not_due");
      if (acted.length > 0) log("info", "social tokens refreshed", { results: acted });
      const rekeyed = await rekeyStaleTokens();
      if (rekeyed.length > 0) log("info", "social tokens re-encrypted", { rekeyed });
    },
    failure: "social token refresh failed; next tick",
  });
}
