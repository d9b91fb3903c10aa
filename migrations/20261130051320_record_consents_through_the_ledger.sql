-- The desk records consents only through the ledger's door (issue 13): the signed-in roles lose
-- their direct insert and update on public.consents, which PostgREST exposed (a grant written
-- straight into the state carried no notice version and bypassed the API's checks). The desk now
-- records a consent with POST /api/customers/{id}/consents (private.record_consent: a ledger row
-- for a customer the caller sees, with its evidence, stamped with the caller, the time and the
-- notice version), which becomes the state in the same transaction. Systems (service_role,
-- webhooks' and jobs' definer functions, imports) still write consents or the ledger directly;
-- either way the other follows (migration create_consent_ledger). The RLS policies that allowed
-- the desk's direct writes go with the grants.

revoke insert, update on public.consents from authenticated;

drop policy consents_insert_member on public.consents;
drop policy consents_update_member on public.consents;
