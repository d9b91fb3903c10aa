-- Tracked links (issue 9, "Engaged customers are not nagged ... the payment link was opened in the
-- last N hours"). A link we put in a message goes out as a short redirect of ours,
-- <LINK_BASE_URL>/<code>, served by the `go` edge function: it records the click, then forwards
-- to the stored target (a Razorpay payment link). The cadence then leaves a customer who opened
-- their link recently alone (next migration).
-- * public.tracked_links: one row per case and target, reused by every message that carries
--   that target (the cadence's daily reminders of one payment link share one code). The code is
--   12 random base62 characters (about 71 bits from gen_random_bytes): unguessable, and it names
--   nothing. Counters and the first and last click on the row.
-- * public.link_clicks: append-only, one row per counted click: when, and the browser's
--   User-Agent cut to 200 characters. No IP address or other identifier is stored: the click
--   only has to say "the customer opened it", so nothing more is kept (DPDP Act 2023, data
--   minimisation).
-- * private.tracked_link(case, target, purpose[, expires_at]): the short URL, made once per case
--   and target (insert ... on conflict: concurrent callers get the same code).
-- * private.record_link_click(code, user_agent, counted, as_of): the target of a live code, or
--   null; counts the click only when told (the function does not count link-preview fetchers or
--   HEAD requests). service_role only.
-- The desk reads the links and clicks of the cases it sees; nobody writes them through the API.
-- New settings: LINK_BASE_URL, CADENCE_LINK_OPENED_HOURS.

insert into public.app_settings (key, value, description) values
  ('LINK_BASE_URL', '"http://127.0.0.1:54321/functions/v1/go"',
   'Where tracked links point: the URL of the `go` edge function (or a short domain forwarding '
   'to it), without a trailing slash; a link is <LINK_BASE_URL>/<code>. Set it to the project''s '
   'functions URL, e.g. https://<project-ref>.supabase.co/functions/v1/go. Links already sent '
   'keep the base they were sent with.'),
  ('CADENCE_LINK_OPENED_HOURS', '24',
   'The cadence sends no reminder (and opens no task) for a case whose tracked link (the payment '
   'link in a reminder) the customer opened within this many hours.');

create table public.tracked_links (
  id uuid primary key default gen_random_uuid(),
  code text not null unique check (code ~ '^[0-9A-Za-z]{10,32}$'),
  case_id uuid not null references public.renewal_cases (id) on delete cascade,
  customer_id uuid not null references public.customers (id) on delete cascade,
  message_id uuid references public.messages (id) on delete set null,
  purpose text not null check (purpose ~ '^[a-z][a-z0-9_]{1,39}$'),
  -- Printable ASCII only (a URL is sent percent-encoded): no space, no control character.
  target_url text not null check (target_url ~* '^https?://[!-~]+$' and length(target_url) <= 2048),
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  click_count integer not null default 0 check (click_count >= 0),
  first_clicked_at timestamptz,
  last_clicked_at timestamptz,
  unique (case_id, target_url),
  check ((click_count = 0) = (first_clicked_at is null and last_clicked_at is null))
);

comment on table public.tracked_links is
  'Short redirects of ours put in messages instead of the raw link (<LINK_BASE_URL>/<code>): a '
  'click goes through the `go` function, which counts it and forwards to target_url. One row per '
  'case and target, shared by every message carrying that target. Visible with its case; written '
  'only by private.tracked_link and private.record_link_click.';
comment on column public.tracked_links.code is
  'The random part of the short URL: base62 from gen_random_bytes (12 characters, about 71 bits), '
  'so it cannot be guessed and says nothing about the case.';
comment on column public.tracked_links.case_id is 'The renewal case the link is about (renewal_cases.id).';
comment on column public.tracked_links.customer_id is 'The customer the link is for (customers.id): the case''s customer.';
comment on column public.tracked_links.message_id is
  'The one message the link was made for, when a producer makes a link for a single message; '
  'null when the case''s messages share it (the cadence''s and link reminders'' payment link).';
comment on column public.tracked_links.purpose is
  'What the link is: payment_link (a Razorpay payment link); snake_case, for reports.';
comment on column public.tracked_links.target_url is
  'Where the redirect forwards: an http(s) URL stored here, never taken from the request.';
comment on column public.tracked_links.expires_at is
  'After this the redirect answers 404 (a payment link''s: when Razorpay stops accepting '
  'payments on it); null: it does not expire.';
comment on column public.tracked_links.click_count is
  'Counted clicks: GET requests from a browser; link-preview fetchers and HEAD requests are not '
  'counted.';
comment on column public.tracked_links.first_clicked_at is 'The first counted click; null until then.';
comment on column public.tracked_links.last_clicked_at is 'The latest counted click; null until then.';

create index tracked_links_customer_idx on public.tracked_links (customer_id);
create index tracked_links_message_idx on public.tracked_links (message_id);

create table public.link_clicks (
  id bigint generated always as identity primary key,
  tracked_link_id uuid not null references public.tracked_links (id) on delete cascade,
  case_id uuid not null references public.renewal_cases (id) on delete cascade,
  clicked_at timestamptz not null,
  user_agent text check (length(user_agent) <= 200)
);

comment on table public.link_clicks is
  'Append-only: one row per counted click on a tracked link (link-preview fetchers and HEAD '
  'requests are not counted). No IP address or other identifier of the device is stored, only '
  'when and which browser (DPDP Act 2023: data minimisation). The cadence reads it: a case '
  'clicked within CADENCE_LINK_OPENED_HOURS gets no reminder. Visible with its case.';
comment on column public.link_clicks.tracked_link_id is 'The link clicked (tracked_links.id).';
comment on column public.link_clicks.case_id is
  'The link''s case (renewal_cases.id), copied from the link: what RLS and the cadence look up.';
comment on column public.link_clicks.clicked_at is 'When the redirect was requested.';
comment on column public.link_clicks.user_agent is
  'The browser''s User-Agent header, cut to its first 200 characters; null when none was sent.';

create index link_clicks_link_idx on public.link_clicks (tracked_link_id, clicked_at);
create index link_clicks_case_idx on public.link_clicks (case_id, clicked_at);

-- Row-level security: the desk reads the links and clicks of the cases it sees, as the case's
-- payment links; nobody writes them through the API roles (the functions below are security
-- definer).
alter table public.tracked_links enable row level security;
alter table public.link_clicks enable row level security;
revoke all on public.tracked_links, public.link_clicks from public, anon, authenticated, service_role;
grant select on public.tracked_links, public.link_clicks to authenticated, service_role;

create policy tracked_links_select_member on public.tracked_links
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = tracked_links.case_id));

create policy link_clicks_select_member on public.link_clicks
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = link_clicks.case_id));

create function private.random_base62(size integer) returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  code text := '';
  bytes bytea;
  b integer;
begin
  if size is null or size not between 1 and 64 then
    raise exception 'random_base62 makes 1 to 64 characters, not %', size using errcode = '22023';
  end if;
  while char_length(code) < size loop
    bytes := extensions.gen_random_bytes(2 * size);
    for i in 0 .. octet_length(bytes) - 1 loop
      b := get_byte(bytes, i);
      -- 248 = 4 x 62: the bytes above it are dropped, so every character is equally likely.
      if b < 248 and char_length(code) < size then
        code := code || substr(alphabet, b % 62 + 1, 1);
      end if;
    end loop;
  end loop;
  return code;
end;
$$;

comment on function private.random_base62(integer) is
  'size random characters of 0-9A-Za-z from gen_random_bytes (a strong random source), without '
  'modulo bias: a tracked link''s code. 22023 unless 1 <= size <= 64.';

revoke execute on function private.random_base62(integer) from public;

create function private.tracked_link(case_id uuid, target_url text, purpose text,
                                     expires_at timestamptz default null)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  base text := rtrim(coalesce(private.setting('LINK_BASE_URL') #>> '{}',
                              'http://127.0.0.1:54321/functions/v1/go'), '/');
  customer uuid;
  link_code text;
begin
  if tracked_link.target_url is null or tracked_link.target_url !~* '^https?://[!-~]+$'
     or length(tracked_link.target_url) > 2048 then
    raise exception 'a tracked link needs an http(s) URL, not %',
      coalesce(left(tracked_link.target_url, 80), 'null') using errcode = '22023';
  end if;
  if tracked_link.purpose is null or tracked_link.purpose !~ '^[a-z][a-z0-9_]{1,39}$' then
    raise exception 'a tracked link''s purpose is a snake_case word, not %',
      coalesce(tracked_link.purpose, 'null') using errcode = '22023';
  end if;
  if base !~* '^https?://[!-~]+$' then
    raise exception 'LINK_BASE_URL must be an http(s) URL, not %', base using errcode = '22023';
  end if;
  select c.customer_id into customer from public.renewal_cases c where c.id = tracked_link.case_id;
  if not found then
    raise exception 'no renewal case %', tracked_link.case_id using errcode = 'P0002';
  end if;
  -- Once per case and target: a concurrent caller's row wins the conflict and is read back (its
  -- insert committed before ours gave up). A code that collided (1 in 10^21) draws again.
  for attempt in 1 .. 3 loop
    insert into public.tracked_links (code, case_id, customer_id, purpose, target_url, expires_at)
    values (private.random_base62(12), tracked_link.case_id, customer, tracked_link.purpose,
            tracked_link.target_url, tracked_link.expires_at)
    on conflict do nothing
    returning code into link_code;
    if link_code is null then
      select l.code into link_code from public.tracked_links l
       where l.case_id = tracked_link.case_id and l.target_url = tracked_link.target_url;
    end if;
    if link_code is not null then
      return base || '/' || link_code;
    end if;
  end loop;
  raise exception 'could not draw a free link code' using errcode = '55000';
end;
$$;

comment on function private.tracked_link(uuid, text, text, timestamptz) is
  'The short URL <LINK_BASE_URL>/<code> that forwards to target_url (http or https only) for a '
  'case: made on the first call for that case and target, the same URL on every later one '
  '(purpose and expires_at are those of the first call). expires_at: when the redirect stops '
  'working (null: never). 22023 for a target that is not an http(s) URL, a purpose that is not '
  'snake_case or a LINK_BASE_URL that is not http(s); P0002 for an unknown case. Security '
  'definer: called by message producers (the cadence, the link reminder, the backend).';

revoke execute on function private.tracked_link(uuid, text, text, timestamptz) from public;
grant execute on function private.tracked_link(uuid, text, text, timestamptz) to service_role;

create function private.record_link_click(code text, user_agent text, counted boolean,
                                          as_of timestamptz default now())
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  link public.tracked_links;
begin
  if counted is null or as_of is null or not isfinite(as_of) then
    raise exception 'record_link_click needs counted and a finite as_of' using errcode = '22023';
  end if;
  if record_link_click.code is null or record_link_click.code !~ '^[0-9A-Za-z]{10,32}$' then
    return null;
  end if;
  if counted then
    update public.tracked_links l
       set click_count = l.click_count + 1,
           first_clicked_at = least(l.first_clicked_at, record_link_click.as_of),
           last_clicked_at = greatest(l.last_clicked_at, record_link_click.as_of)
     where l.code = record_link_click.code
       and (l.expires_at is null or l.expires_at > record_link_click.as_of)
    returning l.* into link;
    if found then
      insert into public.link_clicks (tracked_link_id, case_id, clicked_at, user_agent)
      values (link.id, link.case_id, record_link_click.as_of,
              nullif(left(record_link_click.user_agent, 200), ''));
    end if;
  else
    select l.* into link from public.tracked_links l
     where l.code = record_link_click.code
       and (l.expires_at is null or l.expires_at > record_link_click.as_of);
  end if;
  return link.target_url;
end;
$$;

comment on function private.record_link_click(text, text, boolean, timestamptz) is
  'The redirect''s one call: the target URL of a live tracked link, or null when the code is '
  'unknown, malformed or expired at as_of. When counted, also counts the click (click_count, '
  'first/last_clicked_at and a link_clicks row with the User-Agent cut to 200 characters); the '
  '`go` function passes counted = false for HEAD requests and link-preview fetchers. Security '
  'definer: the `go` function''s (service_role).';

revoke execute on function private.record_link_click(text, text, boolean, timestamptz) from public;
grant execute on function private.record_link_click(text, text, boolean, timestamptz) to service_role;
