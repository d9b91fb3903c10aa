-- Erasure follow-up (issue 13): private.object_deletions kept the key of every object it had
-- deleted, and an old upload's key ends in the file name it was uploaded under (often the
-- person's name: "Ramesh_Kumar_PAN.pdf"), so an erased person stayed named in the queue after
-- their object was gone. A deletion that is done now keeps no key: the row stays as the record
-- that an object was deleted (bucket, reason, queued_at, attempts, done_at), its object_key
-- becomes null the moment done_at is set, whoever sets it (private.finish_object_deletion, the
-- sweep's only way, or anything else), and a check keeps it so. Rows already done lose theirs.
-- The open queue is unchanged (one open row per object; a key is needed until it is deleted).

create function private.tg_object_deletions__forget_key() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.done_at is not null then
    new.object_key := null;
  end if;
  return new;
end;
$$;

comment on function private.tg_object_deletions__forget_key() is
  'Before insert or update of done_at on private.object_deletions: a deletion that is done keeps '
  'no object key (the key of an old upload may hold the uploaded file name).';

revoke execute on function private.tg_object_deletions__forget_key() from public;

create trigger _100_forget_key before insert or update of done_at on private.object_deletions
  for each row execute function private.tg_object_deletions__forget_key();

alter table private.object_deletions alter column object_key drop not null;

update private.object_deletions set object_key = null where done_at is not null;

alter table private.object_deletions
  add constraint object_deletions_key_until_done
    check ((done_at is null) = (object_key is not null));

comment on column private.object_deletions.object_key is
  'The key of the object to delete, while it is queued; null once done (done_at set): a deleted '
  'object''s key is not kept.';
