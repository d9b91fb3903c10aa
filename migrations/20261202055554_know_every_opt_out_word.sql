-- Opt-out replies as Twilio counts them and as phones write them (review of the webhooks).
-- private.is_opt_out_reply (last restated in 20261129012500) missed two of Twilio's default
-- opt-out keywords, REVOKE and OPTOUT spelled as Twilio spells it, and read full-width letters
-- (ＳＴＯＰ, as Indian and East Asian keyboards may send) as other words, so Twilio put the number
-- on its own STOP list while we kept the marketing consent. It also never matched the Hindi
-- सदस्यता समाप्त: under the cluster's C.UTF-8 ctype the virama (्) counts as [:punct:], so the
-- word was split in two before the comparison.
-- The reply is now normalised before it is matched:
-- * Unicode NFKC (normalize(..., NFKC)): full-width letters and punctuation become ASCII,
--   no-break and ideographic spaces plain spaces; then lower-cased;
-- * zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM) removed;
-- * every run of anything but a letter or digit ([:alnum:]) or a Devanagari letter, sign or
--   digit becomes one space (punctuation, dandas, emoji), and the ends are trimmed.
-- The whole reply must still be one of the words: "please stop calling after 6" is no opt-out.
-- Words: Twilio's STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT (with STOP ALL
-- and OPT OUT / OPT-OUT), Meta's "Stop promotions" button, and the Hindi रोकें, रोको, बंद,
-- बंद करें, बंद करो, सदस्यता समाप्त.

create or replace function private.is_opt_out_reply(reply text) returns boolean
language sql
immutable
set search_path = ''
as $$
  select btrim(regexp_replace(
           regexp_replace(lower(normalize(coalesce(reply, ''), nfkc)),
                          '[\u200B-\u200D\u2060\uFEFF]', '', 'g'),
           '[^[:alnum:]\u0900-\u0963\u0966-\u096F\u0971-\u097F]+', ' ', 'g')) in (
    'stop', 'stopall', 'stop all', 'unsubscribe', 'cancel', 'end', 'quit', 'revoke', 'optout',
    'opt out', 'stop promo', 'stop promotions',
    'रोकें', 'रोको', 'बंद', 'बंद करें', 'बंद करो', 'सदस्यता समाप्त')
$$;

comment on function private.is_opt_out_reply(text) is
  'True when a customer''s whole reply is an opt-out word: Twilio''s default keywords STOP, '
  'STOPALL (STOP ALL), UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT (OPT OUT, OPT-OUT), Meta''s '
  '"Stop promotions" button (and STOP PROMO), or Hindi रोकें / रोको / बंद / बंद करें / बंद करो / '
  'सदस्यता समाप्त. The reply is normalised first: Unicode NFKC (full-width ＳＴＯＰ is STOP), '
  'lower case, zero-width characters removed, punctuation and spacing ignored. A sentence that '
  'holds such a word ("please stop calling after 6") is not an opt-out.';
