-- Documents are evidence, so what happens to them is too (issue 12): public.documents joins the
-- audited tables (statement triggers into public.audit_log, as cases, payments and consents:
-- who recorded, completed, held and deleted which document, with the row before and after).
-- An admin places or lifts a legal hold (a dispute, a claim, an investigation: deletion refused
-- while it stands) through private.set_document_legal_hold, the only way the desk changes a
-- document; the change is audited like the rest.

create trigger _900_audit_insert after insert on public.documents
  referencing new table as new_rows
  for each statement execute function private.tg__audit();
create trigger _900_audit_update after update on public.documents
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg__audit();
create trigger _900_audit_delete after delete on public.documents
  referencing old table as old_rows
  for each statement execute function private.tg__audit();

create function private.set_document_legal_hold(document_id uuid, hold boolean)
returns public.documents
language plpgsql
security definer
set search_path = ''
as $$
declare
  doc public.documents;
begin
  if not coalesce(private.is_admin(), false) then
    raise exception 'only admins place or lift a legal hold' using errcode = '42501';
  end if;
  if hold is null then
    raise exception 'hold is true (place) or false (lift)' using errcode = '22023';
  end if;
  update public.documents d
     set legal_hold = set_document_legal_hold.hold
   where d.id = set_document_legal_hold.document_id
  returning d.* into doc;
  if doc.id is null then
    raise exception 'no document %', document_id using errcode = 'P0002';
  end if;
  return doc;
end;
$$;

comment on function private.set_document_legal_hold(uuid, boolean) is
  'Places (hold true) or lifts (false) the legal hold of a document and returns it: while held it '
  'cannot be deleted, whatever its retain_until. Admins only (42501 for anyone else); P0002 for '
  'an unknown document, 22023 for a null hold. Audited (audit_log). Security definer: the desk '
  'has no update right on documents.';

revoke execute on function private.set_document_legal_hold(uuid, boolean) from public;
grant execute on function private.set_document_legal_hold(uuid, boolean) to authenticated;
