-- Filling templates (migration 20261129174525): cut once at the placeholders, filled per
-- message; a value is never filled in turn (a customer named "{{payment_link}}" keeps their
-- name), and a placeholder without a value stays for the gate to block as missing_variables.
begin;
select plan(8);

select is(private.render_template('Hi {{ customer_name }}, renew {{policy_number}} ({{policy_number}})',
                                  '{"customer_name": "Asha", "policy_number": "P-1"}'),
          'Hi Asha, renew P-1 (P-1)', 'placeholders with or without spaces, repeated, are filled');
select is(private.render_template('Dear {{customer_name}}, pay at {{payment_link}}',
                                  '{"customer_name": "{{payment_link}}", "payment_link": "https://pay.example/x"}'),
          'Dear {{payment_link}}, pay at https://pay.example/x', 'a value is not filled in turn');
select is(private.render_template('Renew {{policy_number}} by {{due_date}}', '{"due_date": null}'),
          'Renew {{policy_number}} by {{due_date}}', 'missing and null values leave {{name}}');
select is(private.render_template('No placeholders here', '{"a": "b"}'), 'No placeholders here',
          'a text without placeholders is itself');
select is(private.render_template('', '{}'), '', 'an empty template renders empty');
select is(private.render_template(null, '{}'), null, 'a null template renders null');
select is(private.template_names('{{a}} x {{ b }} {{a}}'), array['a', 'b', 'a'],
          'names in order of appearance, repeats included');
select is(private.fill_template(private.template_parts('{{a}}-{{b}}'), private.template_names('{{a}}-{{b}}'),
                                '{"a": 1, "b": true}'),
          '1-true', 'numbers and booleans are filled as text');

select * from finish();
rollback;
