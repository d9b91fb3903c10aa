-- Document links expire (issue 12, after review): a /go/d/{token} link (a receipt's or renewal
-- notice's, in an email or SMS) opened its document for as long as the document lived, years
-- after the message, whoever held the message by then.
-- * Setting DOCUMENT_LINK_DAYS (app_settings, default 30): how many days a link works after it is
--   drawn. A value that is not a whole number of 1 to 3650 days counts as 30, with a warning.
-- * public.documents.link_expires_at: when the current link stops working; set with the token by
--   private.register_generated_document (each draw sets it again). Links drawn before this
--   migration expire DOCUMENT_LINK_DAYS after their document was created.
-- * private.document_for_link_token answers nothing for an expired link, so the `go` function
--   answers it with its usual 404, as it does an unknown one. The desk still reaches the document
--   through the API (GET /api/documents/{id}/url) and may send it again.

insert into public.app_settings (key, value, description) values
  ('DOCUMENT_LINK_DAYS', '30',
   'How many days the short link of a generated document (<LINK_BASE_URL>/d/<token>, in a receipt''s '
   'or renewal notice''s email or SMS) works after it is drawn: a whole number of 1 to 3650 (else 30). '
   'Changing it applies to links drawn afterwards.')
on conflict (key) do nothing;

alter table public.documents add column link_expires_at timestamptz;

comment on column public.documents.link_expires_at is
  'When the short link of link_token_hash stops working (drawn + DOCUMENT_LINK_DAYS); null when '
  'there is no link.';

update public.documents d
   set link_expires_at = d.created_at + make_interval(days => 30)
 where d.link_token_hash is not null;

alter table public.documents
  add constraint documents_link_expiry check ((link_token_hash is null) = (link_expires_at is null));

create or replace function private.register_generated_document(kind public.document_kind, case_id uuid,
                                                               payment_id uuid default null)
returns table (id uuid, link_token text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  doc_id uuid := private.ensure_generated_document(kind, case_id, payment_id);
  token text := private.random_base62(22);
  given text := private.setting('DOCUMENT_LINK_DAYS') #>> '{}';
  days integer := 30;
begin
  if given ~ '^[0-9]{1,4}$' and given::integer between 1 and 3650 then
    days := given::integer;
  elsif given is not null then
    raise warning 'DOCUMENT_LINK_DAYS is not a whole number of days (1 to 3650): 30 used';
  end if;
  update public.documents d
     set link_token_hash = encode(extensions.digest(token, 'sha256'), 'hex'),
         link_expires_at = now() + make_interval(days => days)
   where d.id = doc_id;
  return query select doc_id, token;
end;
$$;

comment on function private.register_generated_document(public.document_kind, uuid, uuid) is
  'Registers (once, as ensure_generated_document) the receipt of a payment or the renewal notice '
  'of a case, pending until rendered, and returns its id with a fresh link token: 22 random '
  'base62 characters (about 131 bits), of which only the SHA-256 is stored (link_token_hash); the '
  'link is <LINK_BASE_URL>/d/<token> and works DOCUMENT_LINK_DAYS days (link_expires_at; 30 by '
  'default). Each call draws a new token and the previous one stops working: call it once for the '
  'message that carries the link. Security definer: message producers (service_role).';

create or replace function private.document_for_link_token(token text)
returns table (id uuid, bucket text, object_key text, file_name text, content_type text, status text)
language sql stable
security definer
set search_path = ''
as $$
  select d.id, d.bucket, d.object_key, d.file_name, d.content_type, d.status
    from public.documents d
   where token ~ '^[0-9A-Za-z]{16,64}$'
     and d.link_token_hash = encode(extensions.digest(token, 'sha256'), 'hex')
     and d.link_expires_at > now()
$$;

comment on function private.document_for_link_token(text) is
  'The document whose short link carries this token (matched by its SHA-256) while the link has '
  'not expired (link_expires_at): id, bucket, object_key, file_name, content_type, status '
  '(pending: not rendered yet). No row for an unknown, malformed or expired token. Security '
  'definer: the `go` function (service_role).';
