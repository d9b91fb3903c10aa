-- The words of the event messages (issue 9): what a customer is told when their renewal case
-- changes stage, and the confirmation of an opt-out by STOP. Email in English and Hindi; SMS and
-- WhatsApp versions need the business's DLT ids and Meta-approved names, which admins add once
-- registered (the lint refuses them without), as for the payment templates.
--   case_quoted             service        the renewal quote is ready: premium, policy, expiry
--   case_renewed            transactional  renewal confirmed, for a case settled offline (an
--                                          online payment's receipt already says it)
--   case_lapsed_life        service        cover stopped after grace; revival
--   case_lapsed_health      service        cover ended after grace; continuity benefits lost
--   case_lapsed_motor_ncb   service        cover ended (no grace); NCB kept only until the deadline;
--                                          re-inspection
--   case_lapsed_motor       service        the same without an NCB to lose
--   case_lapsed             service        any other line (home)
--   opt_out_confirmation    transactional  no more offers on this number; policy messages go on.
--                                          Its email row is the wording of the free-form reply
--                                          sent inside the WhatsApp window a STOP opens, and of
--                                          the SMS once a DLT-registered SMS row exists.
-- No new variables: these use the list of private.template_variables().

insert into public.templates (code, channel, language, purpose, subject, body) values
  ('case_quoted', 'email', 'en', 'service',
   'Your renewal quote for {{policy_number}} is ready',
   'Dear {{customer_name}}, your renewal quote for policy {{policy_number}} with {{insurer}} is ready: '
   'the premium is {{premium}}. Your cover ends on {{expiry_date}}; renew before then to stay '
   'covered without a break. Your agent can take the payment or answer any question (case '
   '{{case_number}}).'),
  ('case_quoted', 'email', 'hi', 'service',
   '{{policy_number}} के नवीनीकरण का कोटेशन तैयार है',
   'प्रिय {{customer_name}}, {{insurer}} की पॉलिसी {{policy_number}} के नवीनीकरण का कोटेशन तैयार है: '
   'प्रीमियम {{premium}} है। आपका कवर {{expiry_date}} को समाप्त होता है; बिना रुकावट के कवर के लिए '
   'उससे पहले नवीनीकरण कराएं। भुगतान या किसी भी प्रश्न के लिए अपने एजेंट से संपर्क करें (केस '
   '{{case_number}})।'),
  ('case_renewed', 'email', 'en', 'transactional',
   'Policy {{policy_number}} is renewed',
   'Dear {{customer_name}}, the renewal of your policy {{policy_number}} with {{insurer}} is '
   'confirmed (case {{case_number}}). Thank you for staying with us. Your new policy document '
   'will follow from your agent.'),
  ('case_renewed', 'email', 'hi', 'transactional',
   'पॉलिसी {{policy_number}} का नवीनीकरण हो गया',
   'प्रिय {{customer_name}}, {{insurer}} की आपकी पॉलिसी {{policy_number}} के नवीनीकरण की पुष्टि हो गई है '
   '(केस {{case_number}})। हमारे साथ बने रहने के लिए धन्यवाद। नया पॉलिसी दस्तावेज़ आपके एजेंट से मिलेगा।'),
  ('case_lapsed_life', 'email', 'en', 'service',
   'Policy {{policy_number}} has lapsed',
   'Dear {{customer_name}}, the premium of your life policy {{policy_number}} was not paid by the '
   'end of its grace period on {{grace_end}}, so the policy has lapsed: its life cover has '
   'stopped. A lapsed policy can usually be revived within the revival period the policy '
   'allows, by paying the premiums due with interest and, if the insurer asks, a health '
   'declaration. Your agent can tell you what reviving it needs (case {{case_number}}).'),
  ('case_lapsed_life', 'email', 'hi', 'service',
   'पॉलिसी {{policy_number}} लैप्स हो गई है',
   'प्रिय {{customer_name}}, आपकी जीवन बीमा पॉलिसी {{policy_number}} का प्रीमियम {{grace_end}} को '
   'ग्रेस अवधि समाप्त होने तक जमा नहीं हुआ, इसलिए पॉलिसी लैप्स हो गई है: इसका जीवन कवर बंद हो गया है। '
   'लैप्स पॉलिसी को आम तौर पर पॉलिसी में दी गई पुनर्जीवन अवधि के भीतर, बकाया प्रीमियम ब्याज सहित और '
   'बीमाकर्ता के मांगने पर स्वास्थ्य घोषणा देकर, फिर से चालू कराया जा सकता है। इसके लिए क्या चाहिए, '
   'आपके एजेंट बताएंगे (केस {{case_number}})।'),
  ('case_lapsed_health', 'email', 'en', 'service',
   'Policy {{policy_number}} has lapsed',
   'Dear {{customer_name}}, your health policy {{policy_number}} was not renewed by the end of its '
   'grace period on {{grace_end}}, so it has lapsed: there is no cover for treatment from now on, '
   'and its continuity benefits are lost. Waiting periods already served and any cumulative '
   'bonus do not carry over; a new policy starts its waiting periods again. Talk to your agent '
   'about new cover (case {{case_number}}).'),
  ('case_lapsed_health', 'email', 'hi', 'service',
   'पॉलिसी {{policy_number}} लैप्स हो गई है',
   'प्रिय {{customer_name}}, आपकी स्वास्थ्य बीमा पॉलिसी {{policy_number}} का नवीनीकरण {{grace_end}} को '
   'ग्रेस अवधि समाप्त होने तक नहीं हुआ, इसलिए यह लैप्स हो गई है: अब इलाज के लिए कोई कवर नहीं है और '
   'इसके निरंतरता लाभ समाप्त हो गए हैं। पूरी हो चुकी प्रतीक्षा अवधि और संचयी बोनस आगे नहीं जाते; नई '
   'पॉलिसी में प्रतीक्षा अवधि फिर से शुरू होती है। नए कवर के लिए अपने एजेंट से बात करें (केस '
   '{{case_number}})।'),
  ('case_lapsed_motor_ncb', 'email', 'en', 'service',
   'Policy {{policy_number}} has expired: your {{ncb_percent}}% NCB is at risk',
   'Dear {{customer_name}}, your motor policy {{policy_number}} expired on {{expiry_date}} and was '
   'not renewed; motor insurance has no grace period, so the vehicle is not insured now, and '
   'driving it without third-party cover is against the law. Your no-claim bonus of '
   '{{ncb_percent}}% is kept only if you take a new policy by {{ncb_deadline}}; after that it is '
   'lost. As the cover has lapsed, the insurer will inspect the vehicle before insuring it '
   'again. Your agent can arrange both (case {{case_number}}).'),
  ('case_lapsed_motor_ncb', 'email', 'hi', 'service',
   'पॉलिसी {{policy_number}} समाप्त: आपका {{ncb_percent}}% NCB खतरे में है',
   'प्रिय {{customer_name}}, आपकी मोटर पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो गई और '
   'इसका नवीनीकरण नहीं हुआ; मोटर बीमा में कोई ग्रेस अवधि नहीं होती, इसलिए वाहन अभी बीमित नहीं है, और '
   'थर्ड-पार्टी कवर के बिना वाहन चलाना कानूनन अपराध है। आपका {{ncb_percent}}% नो-क्लेम बोनस तभी बचेगा '
   'जब आप {{ncb_deadline}} तक नई पॉलिसी ले लें; उसके बाद यह समाप्त हो जाएगा। कवर लैप्स होने के कारण '
   'दोबारा बीमा से पहले बीमाकर्ता वाहन का निरीक्षण करेगा। आपके एजेंट दोनों की व्यवस्था कर सकते हैं '
   '(केस {{case_number}})।'),
  ('case_lapsed_motor', 'email', 'en', 'service',
   'Policy {{policy_number}} has expired',
   'Dear {{customer_name}}, your motor policy {{policy_number}} expired on {{expiry_date}} and was '
   'not renewed; motor insurance has no grace period, so the vehicle is not insured now, and '
   'driving it without third-party cover is against the law. As the cover has lapsed, the insurer '
   'will inspect the vehicle before insuring it again. Your agent can arrange it (case '
   '{{case_number}}).'),
  ('case_lapsed_motor', 'email', 'hi', 'service',
   'पॉलिसी {{policy_number}} समाप्त हो गई है',
   'प्रिय {{customer_name}}, आपकी मोटर पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो गई और '
   'इसका नवीनीकरण नहीं हुआ; मोटर बीमा में कोई ग्रेस अवधि नहीं होती, इसलिए वाहन अभी बीमित नहीं है, और '
   'थर्ड-पार्टी कवर के बिना वाहन चलाना कानूनन अपराध है। कवर लैप्स होने के कारण दोबारा बीमा से पहले '
   'बीमाकर्ता वाहन का निरीक्षण करेगा। आपके एजेंट इसकी व्यवस्था कर सकते हैं (केस {{case_number}})।'),
  ('case_lapsed', 'email', 'en', 'service',
   'Policy {{policy_number}} has lapsed',
   'Dear {{customer_name}}, your policy {{policy_number}} with {{insurer}} ended on {{expiry_date}} '
   'and was not renewed by {{grace_end}}, so it has lapsed: you are no longer covered. Your agent '
   'can help you take new cover (case {{case_number}}).'),
  ('case_lapsed', 'email', 'hi', 'service',
   'पॉलिसी {{policy_number}} लैप्स हो गई है',
   'प्रिय {{customer_name}}, {{insurer}} की आपकी पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो '
   'गई और {{grace_end}} तक इसका नवीनीकरण नहीं हुआ, इसलिए यह लैप्स हो गई है: अब आपके पास कवर नहीं है। '
   'नया कवर लेने में आपके एजेंट मदद कर सकते हैं (केस {{case_number}})।'),
  ('opt_out_confirmation', 'email', 'en', 'transactional',
   'You will get no more offers from us',
   'Dear {{customer_name}}, as you asked, we will send no more offers to this number. Messages '
   'about your policies, such as renewal reminders and receipts, will still come. To get offers '
   'again, tell your agent.'),
  ('opt_out_confirmation', 'email', 'hi', 'transactional',
   'अब आपको हमारे ऑफ़र नहीं मिलेंगे',
   'प्रिय {{customer_name}}, आपके कहे अनुसार अब हम इस नंबर पर कोई ऑफ़र नहीं भेजेंगे। आपकी पॉलिसियों '
   'से जुड़े संदेश, जैसे नवीनीकरण रिमाइंडर और रसीदें, आते रहेंगे। ऑफ़र फिर से पाने के लिए अपने एजेंट '
   'को बताएं।');
