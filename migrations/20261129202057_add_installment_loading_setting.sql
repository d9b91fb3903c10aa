-- What paying in installments costs (issue 10, "Recommendations": switch to annual to save). A
-- policy's premium is the yearly total as the customer pays it; insurers that let a customer pay
-- half-yearly, quarterly or monthly add a loading to the yearly price for it. The renewal
-- recommendations quote the saving of paying yearly from this setting:
--   yearly price = premium / (1 + loading / 100), saving = premium - yearly price.
-- The defaults are the common loadings of Indian insurers' installment options; set them from the
-- insurers' rate cards. A frequency left out (or the setting removed) gives no saving figure: the
-- recommendation then only says one payment replaces the installments.

insert into public.app_settings (key, value, description) values
  ('INSTALLMENT_LOADING_PCT', '{"half_yearly": 2, "quarterly": 3, "monthly": 5}',
   'Percent added to the yearly premium for paying it in installments, by payment frequency; the '
   'renewal recommendations quote the saving of paying yearly from it.');
