-- Stable pseudonyms for the analytics views (issue 11): every id of a customer's records (the
-- customer, their policies, cases, installments, payments, messages, tasks, AI requests) reaches
-- analysts only as a keyed hash, so analysts can join the views to one another but cannot match
-- a row to the desk, the API, a vendor's log or an export of the operational tables.
--
-- The hash is HMAC-SHA256 (RFC 2104) of the id's text under a random 256-bit key made here, cut
-- to its first 128 bits (32 hex characters). The key lives in private.analytics_pseudonym_key,
-- which only its owner reads: the views are owner-rights views, so they read it on the analysts'
-- behalf, and the key itself is never a column of any view. The HMAC is written with the built-in
-- sha256() and the key's two pads kept ready (K xor 0x36.., K xor 0x5c..), so analysts need no
-- right on the `extensions` schema (pgcrypto) to query the views; a pgTAP test checks the result
-- against pgcrypto's hmac().
--
-- Rotating the key (update the row with new pads) changes every pseudonym at once: extracts made
-- before no longer join to the views.

create table private.analytics_pseudonym_key (
  singleton boolean primary key default true check (singleton),
  inner_pad bytea not null check (length(inner_pad) = 64),
  outer_pad bytea not null check (length(outer_pad) = 64),
  created_at timestamptz not null default now()
);
comment on table private.analytics_pseudonym_key is
  'The secret key of the analytics pseudonyms (one row): HMAC-SHA256 pads of a random 256-bit '
  'key. Read only by its owner, through the analytics views; never granted to anyone.';
comment on column private.analytics_pseudonym_key.inner_pad is
  'The key zero-padded to 64 bytes, xor 0x36 in every byte (HMAC''s ipad).';
comment on column private.analytics_pseudonym_key.outer_pad is
  'The key zero-padded to 64 bytes, xor 0x5c in every byte (HMAC''s opad).';

alter table private.analytics_pseudonym_key enable row level security;
revoke all on private.analytics_pseudonym_key from public, anon, authenticated, service_role;

do $$
declare
  key bytea := extensions.gen_random_bytes(32) || decode(repeat('00', 32), 'hex');
  inner_pad bytea := key;
  outer_pad bytea := key;
begin
  for i in 0..63 loop
    inner_pad := set_byte(inner_pad, i, get_byte(key, i) # 54); -- 0x36
    outer_pad := set_byte(outer_pad, i, get_byte(key, i) # 92); -- 0x5c
  end loop;
  insert into private.analytics_pseudonym_key (inner_pad, outer_pad) values (inner_pad, outer_pad);
end
$$;
-- One row, known to the planner: every view cross-joins it.
analyze private.analytics_pseudonym_key;

-- The views call this with the pads they read; without them it is of no use to anyone, so
-- analysts may execute it (the views run their functions as the one who queries). A SQL-standard
-- body: parsed once here (no search_path to pin) and inlined into each view's plan; stable, not
-- immutable, because convert_to() is (an immutable wrapper of it would not be inlined).
create function analytics.pseudonym(id uuid, inner_pad bytea, outer_pad bytea)
returns text
language sql
stable
parallel safe
return pg_catalog.left(
  pg_catalog.encode(
    pg_catalog.sha256(
      outer_pad operator(pg_catalog.||)
        pg_catalog.sha256(inner_pad operator(pg_catalog.||)
          pg_catalog.convert_to(id::text, 'UTF8'))
    ),
    'hex'
  ),
  32
);
comment on function analytics.pseudonym(uuid, bytea, bytea) is
  'The pseudonym of an id as the analytics views show it (the *_key columns): the first 32 hex '
  'characters of HMAC-SHA256(key, id as text). The views pass the secret key''s pads; you cannot '
  'compute a pseudonym yourself, only join on the ones the views give.';
revoke all on function analytics.pseudonym(uuid, bytea, bytea) from public;
grant execute on function analytics.pseudonym(uuid, bytea, bytea) to analyst;
