-- The columns of public.social_connections that its migration left without a comment (the
-- catalog test asks one of every column in public; analysts read them in their SQL client).
comment on column public.social_connections.platform is
  'The platform: facebook, x, linkedin or telegram (WeChat is not implemented).';
comment on column public.social_connections.account_name is
  'The connected account''s display name as the platform gives it (page or user name, bot '
  'username).';
comment on column public.social_connections.last_refreshed_at is
  'When the tokens were last refreshed (or re-exchanged, for Facebook); null: never since connect.';
comment on column public.social_connections.last_error is
  'The last failure of a refresh, revoke or call, in the platform''s words (never a token).';
comment on column public.social_connections.last_error_at is 'When last_error happened.';
comment on column public.social_connections.connected_at is 'When an admin last connected it.';
comment on column public.social_connections.updated_at is 'When the row last changed.';
