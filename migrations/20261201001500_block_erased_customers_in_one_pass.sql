-- The trigger that blocks messages stored for an erased customer (_050_block_erased_customers,
-- 20261130054931) joined its transition table with public.customers and public.messages, and
-- Postgres could plan that join as a nested loop that reads the whole transition table again for
-- each row: an insert of 100,000 messages (the messages bench's copy; a campaign launch is the
-- same shape) did not finish in eleven minutes, the backend rereading the table's spilled
-- tuplestore from disk (`BufFileRead` in pg_stat_activity). It now reads its rows once for
-- their customers, asks the index of erased customers (customers_erased_idx) whether any is
-- among them, and only then, almost never, blocks their messages. What it does is unchanged.

create or replace function private.tg_messages__block_erased_customers() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  customer_ids uuid[];
  erased uuid[];
begin
  select array_agg(distinct n.customer_id) into customer_ids from new_rows n;
  -- A fresh snapshot (READ COMMITTED): an erasure that committed while this statement waited on
  -- the customer's row is seen here, though the statement read the customer before it.
  select array_agg(c.id) into erased
    from public.customers c
   where c.erased_at is not null and c.id = any (customer_ids);
  if erased is null then
    return null;
  end if;
  update public.messages m
     set status = 'blocked', blocked_reason = 'customer_erased', blocked_at = now(),
         deferred_reason = null, provider = null, estimated_cost_paise = null,
         recipient = null, subject = null, body = '[erased]', body_html = null,
         variables = '{}'::jsonb, last_error = null,
         template_snapshot = case when m.template_snapshot is null then null
                                  else m.template_snapshot - 'whatsapp_parameters' end
   where m.id in (select n.id from new_rows n where n.customer_id = any (erased));
  return null;
end;
$$;
