// Handlers of /api/channels, run as the caller: everyone on the desk reads, RLS and the column
// grants leave writing to admins.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { resolveFactPeriod } from "../communications/period.ts";
import { measurePerformance, requireManagerOrAdmin } from "../communications/performance.ts";
import type {
  ChannelSchema,
  createChannel,
  deleteChannel,
  getChannelPerformance,
  listChannels,
  updateChannel,
} from "./routes.ts";

type Channel = z.infer<typeof ChannelSchema>;

const channelColumns = (tx: Tx) =>
  tx`id, type, name, provider, fallback_provider,
     pg_catalog.trim_scale(cost_per_message)::text as cost_per_message, daily_quota, enabled,
     settings, created_at, updated_at`;

const adminsOnly = () => new ProblemError(403, "Forbidden", "Only admins configure channels.");

/** GET /channels: every channel the caller may see, by type and name. */
export const list: RouteHandler<typeof listChannels, AppEnv> = async (c) => {
  const rows = await asCaller(
    c.get("claims"),
    (tx) => tx<Channel[]>`select ${channelColumns(tx)} from public.channels order by type, name`,
  );
  return c.json({ data: rows }, 200);
};

/** POST /channels (admins): 403 for others, 409 for a taken name, 422 for an unknown vendor. */
export const create: RouteHandler<typeof createChannel, AppEnv> = async (c) => {
  const channel = c.req.valid("json");
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<Channel[]>`
      insert into public.channels
        (type, name, provider, fallback_provider, cost_per_message, daily_quota, enabled, settings)
      values (${channel.type}, ${channel.name}, ${channel.provider}, ${channel.fallback_provider},
              ${channel.cost_per_message}, ${channel.daily_quota}, ${channel.enabled},
              ${tx.json(channel.settings as never)})
      returning ${channelColumns(tx)}`);
  return c.json(row, 201);
};

/** Runs a write on a channel the caller can see; 404 if they cannot, 403 if RLS stops it. */
async function writeVisibleChannel<T>(
  tx: Tx,
  id: string,
  write: () => Promise<T | undefined>,
): Promise<T> {
  const [visible] = await tx`select 1 from public.channels where id = ${id}`;
  if (!visible) throw notFound("channel");
  const result = await write();
  if (result === undefined) throw adminsOnly();
  return result;
}

/** PUT /channels/{id} (admins): sets only the fields named; 404 for an unknown channel. */
export const update: RouteHandler<typeof updateChannel, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const change = c.req.valid("json");
  const row = await asCaller(c.get("claims"), (tx) =>
    writeVisibleChannel(tx, id, async () => {
      const { settings, ...rest } = change;
      const values = settings ? { ...rest, settings: tx.json(settings as never) } : rest;
      const [updated] = await tx<Channel[]>`
        update public.channels set ${tx(values, Object.keys(change) as (keyof typeof values)[])}
         where id = ${id}
        returning ${channelColumns(tx)}`;
      return updated;
    }));
  return c.json(row, 200);
};

/** DELETE /channels/{id} (admins): 204, or 404 for an unknown channel. */
export const remove: RouteHandler<typeof deleteChannel, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  await asCaller(c.get("claims"), (tx) =>
    writeVisibleChannel(tx, id, async () => {
      const [deleted] = await tx`delete from public.channels where id = ${id} returning id`;
      return deleted;
    }));
  return c.body(null, 204);
};

/**
 * GET /channels/{id}/performance (managers and admins): the measures of the messages of the
 * channel's type the caller may see, read from the analytics facts, with its providers'
 * breakers; 404 for an unknown channel, 422 for a period that does not fit its granularity.
 */
export const performance: RouteHandler<typeof getChannelPerformance, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const query = c.req.valid("query");
  const result = await asCaller(c.get("claims"), async (tx) => {
    await requireManagerOrAdmin(tx);
    const [channel] = await tx<
      Pick<Channel, "id" | "type" | "name" | "provider" | "fallback_provider">[]
    >`select id, type, name, provider, fallback_provider from public.channels where id = ${id}`;
    if (!channel) throw notFound("channel");
    const period = await resolveFactPeriod(tx, query);
    const providers = [channel.provider, channel.fallback_provider].filter((p) => p !== null);
    const measures = await measurePerformance(tx, { channel: channel.type }, period, providers);
    return { channel, ...measures };
  });
  return c.json(result, 200);
};
