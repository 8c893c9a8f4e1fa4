//! Email: the outbox written with each change, the worker that sends it once, and what each
//! message says (iMIP invitations whose UID and SEQUENCE agree with the API's calendars).

use cascade_tests::{TestApp, id_of};
use serde_json::json;

fn sequence(m: &cascade_tests::Mail) -> i32 {
    m.calendar_property("SEQUENCE")
        .and_then(|s| s.parse().ok())
        .expect("a numeric SEQUENCE")
}

#[tokio::test]
async fn a_booking_is_confirmed_by_email_with_an_invitation_and_its_cancellation_withdraws_it() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app
        .person("Zoë Ní Bhriain-Łukasz", "zoe@example.org", org, "Z1")
        .await;
    let programme = app.programme("ftt").await;
    let course = app.course(programme, "ftt-ch").await;
    let session = id_of(&app.session(course, 20, 10).await);
    let booking = id_of(&app.book(session, zoe, &app.admin).await.expect(201).body);

    let run = app.send_mail().await;
    assert_eq!(run.sent, 1, "{run:?}");
    let mail = app.mail_to("zoe@example.org", "booking_confirmed");
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(
        m.to_name, "Zoë Ní Bhriain-Łukasz",
        "the name exactly as recorded"
    );
    assert!(m.subject.contains("Course ftt-ch"), "{}", m.subject);
    assert!(
        m.text.contains("Hello Zoë Ní Bhriain-Łukasz,"),
        "{}",
        m.text
    );
    assert!(m.html.contains("Corn Exchange, Devizes"), "{}", m.html);
    let (method, _) = m.calendar.clone().expect("an iMIP part");
    assert_eq!(method, "REQUEST");
    assert_eq!(m.calendar_property("METHOD").as_deref(), Some("REQUEST"));
    let uid = m.calendar_property("UID").expect("a UID");
    assert_eq!(uid, format!("session-{session}-sitting-1@cascade"));
    let first_sequence = sequence(m);
    assert!(
        m.attachments
            .iter()
            .any(|(name, _, _)| name == "invitation.ics"),
        "{:?}",
        m.attachments.iter().map(|a| &a.0).collect::<Vec<_>>()
    );
    // The API's invitation is the same calendar.
    let api = app
        .get(
            &format!("/api/v1/bookings/{booking}/invite.ics"),
            &app.admin,
        )
        .await
        .expect(200);
    assert!(api.text.contains(&format!("SEQUENCE:{first_sequence}")));
    assert!(api.text.contains(&format!("UID:{uid}")));

    // Running the worker again (a retry, another replica) sends nothing more.
    let again = app.send_mail().await;
    assert_eq!(again.sent, 0);
    assert_eq!(app.mailbox().len(), 1);

    app.post(
        &format!("/api/v1/bookings/{booking}/cancel"),
        &app.admin,
        json!({ "reason": "cannot attend" }),
    )
    .await
    .expect(200);
    app.send_mail().await;
    let cancelled = app.mail_to("zoe@example.org", "booking_cancelled");
    assert_eq!(cancelled.len(), 1);
    let c = &cancelled[0];
    assert_eq!(c.calendar.as_ref().map(|x| x.0.as_str()), Some("CANCEL"));
    assert_eq!(c.calendar_property("UID"), Some(uid));
    let cancel_sequence = sequence(c);
    assert!(
        cancel_sequence > first_sequence,
        "{cancel_sequence} > {first_sequence}"
    );
}
