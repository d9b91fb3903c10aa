-- The one column of public.customer_social_accounts (20261130020727_connect_telegram_channel) left
-- without a comment, which the catalog test asks of every column in public.

comment on column public.customer_social_accounts.customer_id is
  'The customer the account belongs to; whoever sees the customer sees their accounts.';
