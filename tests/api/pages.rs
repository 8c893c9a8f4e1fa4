//! The pages people use: sign-in by emailed link, "My training", and their security (the same
//! answer for known and unknown addresses, single-use expiring links, one person's cookie never
//! showing another's records, CSRF-protected forms, the API's security headers).

use cascade_tests::{Browser, TestApp, form_token, id_of};
use serde_json::json;

struct World {
    app: TestApp,
    session: uuid::Uuid,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    app.person("Siân Roberts", "sian@example.org", org, "S1")
        .await;
    app.person("Tomás Ó Briain", "tomas@example.org", org, "T1")
        .await;
    let programme = app.programme("ftt").await;
    let course = app.course(programme, "ftt-ch").await;
    let session = id_of(&app.session(course, 20, 10).await);
    World { app, session }
}

#[tokio::test]
async fn signing_in_says_the_same_for_known_and_unknown_addresses_and_a_link_works_once() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    let form = b.get("/sign-in").await.expect(200);
    let token = form_token(&form.text);
    let known = b
        .post(
            "/sign-in",
            &[("email", "SIAN@example.org"), ("csrf", &token)],
        )
        .await
        .expect(200);
    let unknown = b
        .post(
            "/sign-in",
            &[("email", "nobody@example.org"), ("csrf", &token)],
        )
        .await
        .expect(200);
    assert_eq!(
        known.text.replace("SIAN@example.org", "X"),
        unknown.text.replace("nobody@example.org", "X"),
        "the answer must not tell whether the address is known"
    );
    w.app.send_mail().await;
    assert_eq!(
        w.app.mailbox().len(),
        1,
        "only the known address gets a link"
    );
    let link = w.app.sign_in_link("sian@example.org");

    // Opening the link does not spend it (mail scanners open links); the form does, once.
    let page = b.get(&link).await.expect(200);
    let token = form_token(&page.text);
    b.get(&link).await.expect(200);
    b.post(&link, &[("csrf", &token)]).await.expect(303);
    let my = b.get("/my").await.expect(200);
    assert!(my.text.contains("Siân Roberts"), "{}", my.text);
    let mut other = Browser::new(&w.app);
    let page = other.get(&link).await.expect(200);
    let token = form_token(&page.text);
    other.post(&link, &[("csrf", &token)]).await.expect(410);
    assert_eq!(
        other.get("/my").await.status,
        303,
        "no session from a spent link"
    );
}

#[tokio::test]
async fn a_sign_in_link_expires_after_fifteen_minutes() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    let form = b.get("/sign-in").await.expect(200);
    let token = form_token(&form.text);
    b.post(
        "/sign-in",
        &[("email", "tomas@example.org"), ("csrf", &token)],
    )
    .await
    .expect(200);
    w.app.send_mail().await;
    let link = w.app.sign_in_link("tomas@example.org");
    w.app.clock.advance(chrono::Duration::minutes(16));
    let page = b.get(&link).await.expect(200);
    let token = form_token(&page.text);
    let gone = b.post(&link, &[("csrf", &token)]).await.expect(410);
    assert!(gone.text.contains("expired"), "{}", gone.text);
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    b.sign_in("sian@example.org").await;
    let path = format!("/my/sessions/{}/book", w.session);
    b.post(&path, &[]).await.expect(403);
    b.post(&path, &[("csrf", "not-the-token")])
        .await
        .expect(403);
    let bookings = w
        .app
        .get(
            &format!("/api/v1/sessions/{}/bookings", w.session),
            &w.app.admin,
        )
        .await
        .expect(200);
    assert_eq!(bookings.body["items"].as_array().map(Vec::len), Some(0));
    // Sign-in forms too: a form token from no page of ours.
    let mut fresh = Browser::new(&w.app);
    fresh
        .post("/sign-in", &[("email", "sian@example.org"), ("csrf", "x")])
        .await
        .expect(403);
}

#[tokio::test]
async fn a_person_books_sees_and_cancels_their_place_and_never_sees_anothers() {
    let w = world().await;
    let mut sian = Browser::new(&w.app);
    sian.sign_in("sian@example.org").await;
    let page = sian
        .get(&format!("/my/sessions/{}", w.session))
        .await
        .expect(200);
    let token = form_token(&page.text);
    let booked = sian
        .post(
            &format!("/my/sessions/{}/book", w.session),
            &[("csrf", &token)],
        )
        .await
        .expect(303);
    assert_eq!(
        booked.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("/my?done=booked")
    );
    let my = sian.get("/my?done=booked").await.expect(200);
    assert!(my.text.contains("Course ftt-ch"), "{}", my.text);
    let at = my.text.find("/my/bookings/").expect("a booking link");
    let booking = &my.text[at + 13..at + 13 + 36];
    // The same rule as the API: booking twice is refused, in words.
    let again = sian
        .post(
            &format!("/my/sessions/{}/book", w.session),
            &[("csrf", &token)],
        )
        .await
        .expect(409);
    assert!(again.text.contains("already booked"), "{}", again.text);
    let ics = sian
        .get(&format!("/my/bookings/{booking}/invite.ics"))
        .await
        .expect(200);
    assert!(ics.text.contains("METHOD:REQUEST"));

    // Another person's cookie reaches none of it.
    let mut tomas = Browser::new(&w.app);
    tomas.sign_in("tomas@example.org").await;
    let theirs = tomas.get("/my").await.expect(200);
    assert!(!theirs.text.contains("Course ftt-ch"), "{}", theirs.text);
    tomas
        .get(&format!("/my/bookings/{booking}/invite.ics"))
        .await
        .expect(404);
    tomas
        .get(&format!("/my/bookings/{booking}/cancel"))
        .await
        .expect(404);
    let tomas_token = form_token(&tomas.get("/my/email").await.expect(200).text);
    tomas
        .post(
            &format!("/my/bookings/{booking}/cancel"),
            &[("csrf", &tomas_token)],
        )
        .await
        .expect(404);

    // Sian cancels hers.
    let confirm = sian
        .get(&format!("/my/bookings/{booking}/cancel"))
        .await
        .expect(200);
    sian.post(
        &format!("/my/bookings/{booking}/cancel"),
        &[("csrf", &form_token(&confirm.text))],
    )
    .await
    .expect(303);
    let api = w
        .app
        .get(&format!("/api/v1/bookings/{booking}"), &w.app.admin)
        .await
        .expect(200);
    assert_eq!(api.body["status"], "cancelled");
    w.app.send_mail().await;
    assert_eq!(
        w.app.mail_to("sian@example.org", "booking_confirmed").len(),
        1
    );
    assert_eq!(
        w.app.mail_to("sian@example.org", "booking_cancelled").len(),
        1
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    b.sign_in("sian@example.org").await;
    let kept = b.cookies.clone();
    let my = b.get("/my").await.expect(200);
    b.post("/sign-out", &[("csrf", &form_token(&my.text))])
        .await
        .expect(200);
    // The old cookie, replayed, opens nothing.
    let mut replay = Browser::new(&w.app);
    replay.cookies = kept;
    assert_eq!(replay.get("/my").await.status, 303);
}

#[tokio::test]
async fn pages_send_the_apis_security_headers_with_a_csp_for_our_own_assets() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    let page = b.get("/sign-in").await.expect(200);
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let csp = header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn an_admin_grants_the_role_a_person_signs_in_with() {
    let w = world().await;
    let people = w
        .app
        .get("/api/v1/people?email=tomas@example.org", &w.app.admin)
        .await
        .expect(200);
    let tomas = people.body["items"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let path = format!("/api/v1/people/{tomas}/sign-in-role");
    let none = w.app.get(&path, &w.app.admin).await.expect(200);
    assert_eq!(none.body["role"], "none");
    let coordinator = w
        .app
        .key(cascade::domain::api_keys::KeyRole::Coordinator, None, None)
        .await;
    w.app
        .put(&path, &coordinator, json!({ "role": "coordinator" }))
        .await
        .expect(403);
    let granted = w
        .app
        .put(&path, &w.app.admin, json!({ "role": "coordinator" }))
        .await
        .expect(200);
    assert_eq!(granted.body["role"], "coordinator");
    w.app
        .put(&path, &w.app.admin, json!({ "role": "owner" }))
        .await
        .expect(422);
}

#[tokio::test]
async fn a_person_gets_a_calendar_link_once_and_a_new_one_retires_it() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    b.sign_in("sian@example.org").await;
    let page = b.get("/my/calendar").await.expect(200);
    assert!(page.text.contains("Get my calendar link"), "{}", page.text);
    let made = b
        .post("/my/calendar", &[("csrf", &form_token(&page.text))])
        .await
        .expect(200);
    let https = |html: &str| {
        let at = html
            .find("<code>http://cascade.test/api/v1/feeds/")
            .expect("a feed address");
        let rest = &html[at + 6..];
        rest[..rest.find('<').expect("end")].replace("http://cascade.test", "")
    };
    assert!(
        made.text.contains("webcal://cascade.test/api/v1/feeds/"),
        "{}",
        made.text
    );
    let first = https(&made.text);
    let feed = b.get(&first).await.expect(200);
    assert!(feed.text.contains("BEGIN:VCALENDAR"));
    // Shown once: the page now only offers a new link.
    let again = b.get("/my/calendar").await.expect(200);
    assert!(!again.text.contains(&first) && again.text.contains("Get a new calendar link"));
    let remade = b
        .post("/my/calendar", &[("csrf", &form_token(&again.text))])
        .await
        .expect(200);
    let second = https(&remade.text);
    assert_ne!(first, second);
    b.get(&first).await.expect(404);
    b.get(&second).await.expect(200);
    let my = b.get("/my").await.expect(200);
    assert!(my.text.contains("Your calendar"), "{}", my.text);
}

#[tokio::test]
async fn certificates_and_champion_status_reach_their_holder_by_email_and_page_and_no_one_else() {
    let w = world().await;
    let people = w
        .app
        .get("/api/v1/people?email=sian@example.org", &w.app.admin)
        .await
        .expect(200);
    let sian = people.body["items"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let session = w
        .app
        .get(&format!("/api/v1/sessions/{}", w.session), &w.app.admin)
        .await
        .expect(200);
    let held = (w.app.clock.now() - chrono::Duration::days(7)).date_naive();
    w.app
        .post(
            "/api/v1/past-sessions",
            &w.app.admin,
            json!({
                "course_id": session.body["course_id"],
                "sittings": [{ "date": held, "start": "09:30", "end": "16:00" }],
                "venue": { "name": "Corn Exchange, Devizes" },
                "attendees": [{ "person_id": sian, "attended_sittings": [1] }],
                "issue_certificates": true,
            }),
        )
        .await
        .expect(201);
    w.app.send_mail().await;
    let mail = w.app.mail_to("sian@example.org", "certificate_issued");
    assert_eq!(mail.len(), 1);
    let (name, kind, pdf) = &mail[0].attachments[0];
    assert!(
        name.starts_with("certificate-") && name.ends_with(".pdf"),
        "{name}"
    );
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF"));

    let mut b = Browser::new(&w.app);
    b.sign_in("sian@example.org").await;
    let my = b.get("/my").await.expect(200);
    assert!(my.text.contains("Active champion"), "{}", my.text);
    let at = my
        .text
        .find("/my/certificates/")
        .expect("a certificate link");
    let link = my.text[at..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    let download = b.get(&link).await.expect(200);
    assert_eq!(download.content_type, "application/pdf");

    let mut tomas = Browser::new(&w.app);
    tomas.sign_in("tomas@example.org").await;
    tomas.get(&link).await.expect(404);
    let theirs = tomas.get("/my").await.expect(200);
    assert!(!theirs.text.contains("Active champion"));
}

#[tokio::test]
async fn sign_in_links_are_limited_per_email_address() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    let token = form_token(&b.get("/sign-in").await.expect(200).text);
    for _ in 0..3 {
        b.post(
            "/sign-in",
            &[("email", "sian@example.org"), ("csrf", &token)],
        )
        .await
        .expect(200);
    }
    // The address in other capitals is the same address.
    for email in ["sian@example.org", "SIAN@example.org"] {
        let refused = b
            .post("/sign-in", &[("email", email), ("csrf", &token)])
            .await
            .expect(429);
        assert!(refused.text.contains("Too many sign-in requests"));
    }
    b.post(
        "/sign-in",
        &[("email", "tomas@example.org"), ("csrf", &token)],
    )
    .await
    .expect(200);
    w.app.send_mail().await;
    assert_eq!(w.app.mail_to("sian@example.org", "sign_in_link").len(), 3);
}

#[tokio::test]
async fn cancelling_a_place_close_to_the_session_warns_of_the_charge_first() {
    let w = world().await;
    let people = w
        .app
        .get("/api/v1/people?email=sian@example.org", &w.app.admin)
        .await
        .expect(200);
    let sian: uuid::Uuid = people.body["items"][0]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let booking = id_of(
        &w.app
            .book(w.session, sian, &w.app.admin)
            .await
            .expect(201)
            .body,
    );
    // Two days before it starts: inside the session's late-cancellation period.
    w.app.clock.advance(chrono::Duration::days(18));
    let mut b = Browser::new(&w.app);
    b.sign_in("sian@example.org").await;
    let confirm = b
        .get(&format!("/my/bookings/{booking}/cancel"))
        .await
        .expect(200);
    assert!(confirm.text.contains("may be charged"), "{}", confirm.text);
    b.post(
        &format!("/my/bookings/{booking}/cancel"),
        &[("csrf", &form_token(&confirm.text))],
    )
    .await
    .expect(303);
    let api = w
        .app
        .get(&format!("/api/v1/bookings/{booking}"), &w.app.admin)
        .await
        .expect(200);
    assert_eq!(
        api.body["late_cancellation"], true,
        "the page warned by the rule that applied"
    );
}
