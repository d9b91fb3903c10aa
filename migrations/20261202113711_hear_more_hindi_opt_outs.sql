-- More Hindi opt-outs (issue 7, found by a review): "बन्द करें", the common spelling of "बंद करें"
-- with a half न instead of the nasal dot, was not heard as an opt-out, nor were the polite
-- "बंद कीजिए" and Hinglish "band karo". A nasal consonant with a virama before a consonant
-- (न्द, म्ब, ङ्क ...) is now read as the anusvara (ं), as Hindi writes the same sound both ways,
-- and the list gains the polite and Latin-letter forms customers type.

create or replace function private.is_opt_out_reply(reply text) returns boolean
language sql
immutable
set search_path = ''
as $$
  select btrim(regexp_replace(
           regexp_replace(
             regexp_replace(lower(normalize(coalesce(reply, ''), nfkc)),
                            '[\u200B-\u200D\u2060\uFEFF]', '', 'g'),
             '[ङञणनम]्([क-ह])', 'ं\1', 'g'),
           '[^[:alnum:]\u0900-\u0963\u0966-\u096F\u0971-\u097F]+', ' ', 'g')) in (
    'stop', 'stopall', 'stop all', 'unsubscribe', 'cancel', 'end', 'quit', 'revoke', 'optout',
    'opt out', 'stop promo', 'stop promotions',
    'रोकें', 'रोको', 'रोक दो', 'रोक दें', 'बंद', 'बंद करें', 'बंद करो', 'बंद कीजिए', 'बंद कीजिये',
    'बंद करिए', 'मत भेजो', 'मत भेजें', 'सदस्यता समाप्त',
    'band karo', 'band karen', 'band karein', 'band kro')
$$;
comment on function private.is_opt_out_reply(text) is
  'True when a customer''s whole reply is an opt-out word: Twilio''s default keywords STOP, '
  'STOPALL (STOP ALL), UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT (OPT OUT, OPT-OUT), Meta''s '
  '"Stop promotions" button (and STOP PROMO), Hindi रोकें / रोको / रोक दो / रोक दें / बंद / बंद करें '
  '/ बंद करो / बंद कीजिए / बंद कीजिये / बंद करिए / मत भेजो / मत भेजें / सदस्यता समाप्त, or Hinglish '
  'band karo / band karen / band karein / band kro. The reply is normalised first: Unicode NFKC '
  '(full-width ＳＴＯＰ is STOP), lower case, zero-width characters removed, a nasal consonant '
  'with a virama before a consonant read as the anusvara (बन्द is बंद), punctuation and spacing '
  'ignored. A sentence that holds such a word ("please stop calling after 6") is not an opt-out.';
