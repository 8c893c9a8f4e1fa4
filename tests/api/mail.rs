//! Email: the outbox written with each change, the worker that sends it once, and what each
//! message says (iMIP invitations whose UID and SEQUENCE agree with the API's calendars).

use cascade_tests::{Browser, TestApp, id_of};
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

async fn run_timed(app: &TestApp) -> usize {
    let ctx = cascade::ctx::Ctx::system(&app.db, &app.clock);
    cascade::domain::mail::timed::queue_due(&ctx, &app.state.config)
        .await
        .expect("the scans run")
}

#[tokio::test]
async fn a_reminder_goes_once_before_a_session_with_an_unsubscribe_link_that_works() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let sian = app
        .person("Siân Roberts", "sian@example.org", org, "S1")
        .await;
    let tomas = app
        .person("Tomás Ó Briain", "tomas@example.org", org, "T1")
        .await;
    let programme = app.programme("ftt").await;
    let course = app.course(programme, "ftt-ch").await;
    let session = id_of(&app.session(course, 5, 10).await);
    app.book(session, sian, &app.admin).await.expect(201);
    let gone = id_of(&app.book(session, tomas, &app.admin).await.expect(201).body);
    app.post(
        &format!("/api/v1/bookings/{gone}/cancel"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        run_timed(&app).await,
        0,
        "not yet: the session is 5 days away"
    );
    app.clock.advance(chrono::Duration::hours(84));
    assert_eq!(run_timed(&app).await, 1, "one place held, one cancelled");
    run_timed(&app).await;
    app.send_mail().await;
    let reminders = app.mail_to("sian@example.org", "reminder");
    assert_eq!(reminders.len(), 1, "a second scan adds nothing");
    assert!(app.mail_to("tomas@example.org", "reminder").is_empty());
    let r = &reminders[0];
    assert!(
        r.subject.starts_with("Reminder: Course ftt-ch"),
        "{}",
        r.subject
    );
    assert!(
        r.raw
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );
    let at = r
        .raw
        .find("List-Unsubscribe: <http://cascade.test")
        .expect("a link");
    let rest = &r.raw[at + 38..];
    let path = &rest[..rest.find('>').expect("end of link")];
    assert!(path.starts_with("/unsubscribe/"), "{path}");

    // A mail client's one-click unsubscribe (RFC 8058), with no cookie and no form token.
    let mut client = Browser::new(&app);
    let reply = client
        .post(path, &[("List-Unsubscribe", "One-Click")])
        .await
        .expect(200);
    assert!(reply.text.contains("no more reminders"), "{}", reply.text);
    // The next reminder is not sent; an invitation still is.
    let other = app.course(programme, "ftt-two").await;
    let later = id_of(&app.session(other, 10, 10).await);
    app.book(later, sian, &app.admin).await.expect(201);
    app.clock
        .advance(chrono::Duration::days(8) + chrono::Duration::hours(12));
    run_timed(&app).await;
    let run = app.send_mail().await;
    assert_eq!(run.sent, 1, "{run:?}");
    assert_eq!(run.skipped, 1, "{run:?}");
    assert_eq!(app.mail_to("sian@example.org", "reminder").len(), 1);
    assert_eq!(
        app.mail_to("sian@example.org", "booking_confirmed").len(),
        2
    );
    // An unknown token is not ours.
    client
        .post(
            "/unsubscribe/not-a-token",
            &[("List-Unsubscribe", "One-Click")],
        )
        .await
        .expect(404);
}

#[tokio::test]
async fn a_champion_is_told_once_when_their_refresh_comes_due() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let sian = app
        .person("Siân Roberts", "sian@example.org", org, "S1")
        .await;
    let programme = app.programme("ftt").await;
    let course = id_of(
        &app.post(
            "/api/v1/courses",
            &app.admin,
            json!({
                "programme_id": programme, "code": "ftt-champion", "title": "Five to Thrive champion",
                "kind": "champion", "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
                "certificate_validity_months": 12,
            }),
        )
        .await
        .expect(201)
        .body,
    );
    // Trained eleven months ago: the refresh is due in about a month.
    let held = (app.clock.now() - chrono::Duration::days(334)).date_naive();
    app.post(
        "/api/v1/past-sessions",
        &app.admin,
        json!({
            "course_id": course,
            "sittings": [{ "date": held, "start": "09:30", "end": "16:00" }],
            "venue": { "name": "Corn Exchange, Devizes" },
            "attendees": [{ "person_id": sian, "attended_sittings": [1] }],
        }),
    )
    .await
    .expect(201);
    assert_eq!(run_timed(&app).await, 1);
    run_timed(&app).await;
    app.send_mail().await;
    let notices = app.mail_to("sian@example.org", "refresh_due");
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].subject.contains("Five to Thrive champion"),
        "{}",
        notices[0].subject
    );
    assert!(
        notices[0].text.contains("needs refreshing by"),
        "{}",
        notices[0].text
    );
}

#[tokio::test]
async fn the_waitlist_a_move_and_a_cancelled_session_are_told_with_rising_sequences() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let sian = app
        .person("Siân Roberts", "sian@example.org", org, "S1")
        .await;
    let priya = app
        .person("Priya Sharma", "priya@example.org", org, "P1")
        .await;
    let programme = app.programme("ftt").await;
    let course = app.course(programme, "ftt-ch").await;
    let session = id_of(&app.session(course, 20, 1).await);
    let first = id_of(&app.book(session, sian, &app.admin).await.expect(201).body);
    let second = app.book(session, priya, &app.admin).await.expect(201);
    assert_eq!(second.body["status"], "waitlisted");
    app.send_mail().await;
    let waitlisted = app.mail_to("priya@example.org", "booking_waitlisted");
    assert_eq!(waitlisted.len(), 1);
    assert!(
        waitlisted[0].text.contains("number 1"),
        "{}",
        waitlisted[0].text
    );
    assert!(
        waitlisted[0].calendar.is_none(),
        "no invitation without a place"
    );

    app.post(
        &format!("/api/v1/bookings/{first}/cancel"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    app.send_mail().await;
    let promoted = app.mail_to("priya@example.org", "booking_promoted");
    assert_eq!(promoted.len(), 1);
    let promoted_sequence = sequence(&promoted[0]);

    let moved = (app.clock.now() + chrono::Duration::days(21)).date_naive();
    app.patch(
        &format!("/api/v1/sessions/{session}"),
        &app.admin,
        json!({ "sittings": [{ "date": moved, "start": "10:00", "end": "15:00" }] }),
    )
    .await
    .expect(200);
    app.send_mail().await;
    let changed = app.mail_to("priya@example.org", "session_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0].calendar.as_ref().map(|c| c.0.as_str()),
        Some("REQUEST")
    );
    assert!(
        changed[0].text.contains("10:00 to 15:00"),
        "{}",
        changed[0].text
    );
    let changed_sequence = sequence(&changed[0]);
    assert!(changed_sequence > promoted_sequence);
    assert!(
        app.mail_to("sian@example.org", "session_changed")
            .is_empty(),
        "only people holding a place hear of the change"
    );

    app.post(
        &format!("/api/v1/sessions/{session}/cancel"),
        &app.admin,
        json!({ "reason": "The trainer is ill." }),
    )
    .await
    .expect(200);
    app.send_mail().await;
    let cancelled = app.mail_to("priya@example.org", "session_cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0].calendar.as_ref().map(|c| c.0.as_str()),
        Some("CANCEL")
    );
    assert!(cancelled[0].text.contains("The trainer is ill."));
    assert!(sequence(&cancelled[0]) > changed_sequence);
}

#[tokio::test]
#[ignore = "PostgreSQL only: two workers on separate connections race for the same messages"]
async fn two_replicas_send_each_message_once() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let people = app.people(org, "staff", 12).await;
    let programme = app.programme("ftt").await;
    let course = app.course(programme, "ftt-ch").await;
    let session = id_of(&app.session(course, 20, 20).await);
    for p in &people {
        app.book(session, *p, &app.admin).await.expect(201);
    }
    let other = cascade::db::connect(&app.url).await.expect("a second pool");
    let replica = cascade::state::AppState::new(other, (*app.state.config).clone())
        .with_clock(app.clock.clone());
    let (a, b) = tokio::join!(
        cascade::domain::mail::send::run_worker(&app.state),
        cascade::domain::mail::send::run_worker(&replica),
    );
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));
    assert_eq!(a.sent + b.sent, 12, "{a:?} {b:?}");
    assert_eq!(app.mailbox().len(), 12);
    let attempts = app.count(entities::message_attempts::Entity).await;
    assert_eq!(attempts, 12, "one attempt per message");
}

#[tokio::test]
async fn a_batch_that_cannot_be_sent_is_recorded_and_sent_when_it_is_due_again() {
    use sea_orm::EntityTrait as _;
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let people = app.people(org, "staff", 3).await;
    let programme = app.programme("ftt").await;
    let course = app.course(programme, "ftt-ch").await;
    let session = id_of(&app.session(course, 20, 20).await);
    for p in &people {
        app.book(session, *p, &app.admin).await.expect(201);
    }
    // A mail folder that cannot be made: a file stands where it should be.
    let blocked = std::env::temp_dir().join(format!("cascade-blocked-{}", uuid::Uuid::new_v4()));
    std::fs::write(&blocked, "not a folder").expect("a file");
    let mut config = (*app.state.config).clone();
    config.mail_dir = blocked.join("mail");
    let broken =
        cascade::state::AppState::new(app.state.db.clone(), config).with_clock(app.clock.clone());

    let run = cascade::domain::mail::send::run_worker(&broken)
        .await
        .expect("a run");
    assert_eq!((run.sent, run.failed_attempts), (0, 3), "{run:?}");
    assert_eq!(app.count(entities::message_attempts::Entity).await, 3);
    let pending = entities::messages::Entity::find()
        .all(&app.state.db)
        .await
        .expect("messages");
    assert_eq!(pending.len(), 3);
    for m in &pending {
        assert_eq!(m.status, "pending", "{m:?}");
        assert_eq!(m.attempts, 1);
        assert_eq!(
            m.lease_until, None,
            "the lease is given back with the outcome"
        );
        assert!(
            m.next_attempt_at > app.clock.now(),
            "retried later, not now"
        );
        assert!(m.last_error.as_deref().unwrap_or("").contains("writing to"));
    }
    // Not due yet: nothing is sent, nothing more is recorded.
    assert_eq!(app.send_mail().await.sent, 0);
    assert_eq!(app.count(entities::message_attempts::Entity).await, 3);

    app.clock.advance(chrono::Duration::minutes(2));
    let run = app.send_mail().await;
    assert_eq!((run.sent, run.failed_attempts), (3, 0), "{run:?}");
    assert_eq!(app.mailbox().len(), 3);
    assert_eq!(app.count(entities::message_attempts::Entity).await, 6);
    std::fs::remove_file(&blocked).ok();
}
