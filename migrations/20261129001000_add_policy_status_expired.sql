-- A policy term can end without being renewed and without lapsing for non-payment: the customer
-- went elsewhere (case lost or not taken), or the term was loaded after its grace had already
-- ended. Such terms are `expired`, set by the daily jobs once the term is over. Its own migration:
-- a new enum value cannot be used in the transaction that adds it.

alter type public.policy_status add value if not exists 'expired' after 'lapsed';

comment on type public.policy_status is
  'active: in force or in its renewal window; renewed: a paid renewal (or a loaded successor term) '
  'followed it; lapsed: its renewal went unpaid through grace; expired: the term ended without '
  'renewal (case lost or not taken, or no case was ever opened); cancelled: ended early by the insurer.';
