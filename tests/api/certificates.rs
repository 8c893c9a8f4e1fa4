//! Certificates: issued once, printed with real text, verifiable by anyone with the code.

use cascade::{domain::api_keys::KeyRole, render::text::SAMPLE_NAMES};
use cascade_tests::{TestApp, id_of, kind, pdf_pages, pdf_text};
use chrono::{Duration, Months, NaiveDate};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::progression::{ftt, run_session, today};

async fn certificates_of(app: &TestApp, person: Uuid) -> Vec<Value> {
    app.get(
        &format!("/api/v1/certificates?person_id={person}"),
        &app.admin,
    )
    .await
    .expect(200)
    .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn verify(app: &TestApp, code: &str) -> cascade_tests::Reply {
    app.request("GET", &format!("/api/v1/verify/{code}"), None, None)
        .await
}

#[tokio::test]
async fn completing_a_session_issues_each_attendee_one_certificate_with_a_pdf_anyone_can_verify() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app
        .person("Zoë Łukasiewicz-Ó Briain", "zoe@example.org", org, "Z")
        .await;
    let olena = app
        .person("Олена Коваленко", "olena@example.org", org, "O")
        .await;
    let session = run_session(&app, f.champion, &[zoe, olena]).await;

    let certs = certificates_of(&app, zoe).await;
    assert_eq!(certs.len(), 1, "issued once");
    let c = &certs[0];
    let number = c["number"].as_str().unwrap_or("");
    assert!(
        number.starts_with(&format!("CAS-{}-", today(&app).format("%Y"))) && number.len() == 15,
        "{number}"
    );
    let code = c["verification_code"].as_str().unwrap_or("").to_owned();
    assert_eq!(code.len(), 24);
    assert_eq!(code.split('-').count(), 5);
    assert_eq!(
        c["verify_url"],
        format!("http://cascade.test/verify/{code}")
    );
    assert_eq!(
        (c["kind"].as_str(), c["status"].as_str()),
        (Some("completion"), Some("valid"))
    );
    assert_eq!(c["person_name"], "Zoë Łukasiewicz-Ó Briain");
    assert_eq!(c["session_id"], session.to_string());
    assert_eq!(c["cpd_hours"], 6.0);
    let completed: NaiveDate = c["completed_on"]
        .as_str()
        .unwrap_or("")
        .parse()
        .expect("date");
    assert_eq!(
        c["expires_on"],
        completed
            .checked_add_months(Months::new(36))
            .map(|d| d.to_string())
            .unwrap_or_default()
    );

    let pdf = app
        .get(
            &format!("/api/v1/certificates/{}/pdf", id_of(c)),
            &app.admin,
        )
        .await
        .expect(200);
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.bytes.len() < 60_000, "{} bytes", pdf.bytes.len());
    let text = pdf_text(&pdf.bytes);
    for expected in [
        "Zoë Łukasiewicz-Ó Briain",
        number,
        &format!("http://cascade.test/verify/{code}"),
        "Programme five-to-thrive",
        "6 CPD hours",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert_eq!(pdf_pages(&pdf.bytes), 1);

    let bulk = app
        .get(
            &format!("/api/v1/sessions/{session}/certificates/pdf"),
            &app.admin,
        )
        .await
        .expect(200);
    assert_eq!(pdf_pages(&bulk.bytes), 2);
    let text = pdf_text(&bulk.bytes);
    assert!(text.contains("Олена Коваленко") && text.contains("Zoë Łukasiewicz-Ó Briain"));

    // Anyone can check it, however they type the code, and sees only what the certificate shows
    // (`revoked_on` appears only once it is revoked).
    let typed = code.replace('-', "").to_lowercase();
    let checked = verify(&app, &typed).await.expect(200).body;
    assert_eq!(checked["status"], "valid");
    assert_eq!(checked["name"], "Zoë Łukasiewicz-Ó Briain");
    assert_eq!(checked["number"], number);
    let mut keys: Vec<&str> = checked
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "completed_on",
            "cpd_hours",
            "expires_on",
            "issued_on",
            "issuer",
            "name",
            "number",
            "programme",
            "status",
            "title"
        ]
    );
    let near_miss = format!(
        "{}{}",
        &code[..23],
        if code.ends_with('A') { 'B' } else { 'A' }
    );
    let unknown = verify(&app, &near_miss).await.problem(404);
    let garbage = verify(&app, "not-a-code").await.problem(404);
    assert_eq!(
        unknown["detail"], garbage["detail"],
        "a near miss and a made-up code look the same"
    );
}

#[tokio::test]
async fn certificates_are_revoked_and_reissued_never_edited_and_they_expire() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let council = app.organisation("Council", "council").await;
    let police = app.organisation("Police", "police").await;
    let a = app
        .person("Siân Roberts", "sian@example.org", council, "A")
        .await;
    let b = app
        .person("Tomas Obrien", "tomas@example.org", council, "B")
        .await;
    run_session(&app, f.champion, &[a, b]).await;
    let ca = certificates_of(&app, a).await.remove(0);
    let cb = certificates_of(&app, b).await.remove(0);

    let learner = app.key(KeyRole::Learner, None, Some(a)).await;
    let own = app
        .get("/api/v1/certificates", &learner)
        .await
        .expect(200)
        .body;
    assert_eq!(own["items"].as_array().map(Vec::len), Some(1));
    app.get(&format!("/api/v1/certificates/{}", id_of(&cb)), &learner)
        .await
        .problem(404);
    app.get(
        &format!("/api/v1/certificates/{}/pdf", id_of(&ca)),
        &learner,
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/certificates/{}/revoke", id_of(&ca)),
        &learner,
        json!({ "reason": "x" }),
    )
    .await
    .problem(403);
    let other_partner = app.key(KeyRole::Partner, Some(police), None).await;
    app.get(
        &format!("/api/v1/certificates/{}", id_of(&ca)),
        &other_partner,
    )
    .await
    .problem(404);

    let revoked = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id_of(&ca)),
            &app.admin,
            json!({ "reason": "Attendance recorded in error" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(revoked["status"], "revoked");
    let checked = verify(&app, ca["verification_code"].as_str().unwrap_or(""))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (checked["status"].as_str(), checked["revoked_on"].as_str()),
        (Some("revoked"), Some(today(&app).to_string().as_str()))
    );
    assert_eq!(
        kind(
            &app.post(
                &format!("/api/v1/certificates/{}/revoke", id_of(&ca)),
                &app.admin,
                json!({ "reason": "again" })
            )
            .await
            .problem(409)
        ),
        "certificate-not-current"
    );
    app.post(
        &format!("/api/v1/certificates/{}/reissue", id_of(&ca)),
        &app.admin,
        json!({}),
    )
    .await
    .problem(409);
    let blank = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id_of(&cb)),
            &app.admin,
            json!({ "reason": " " }),
        )
        .await
        .problem(422);
    assert_eq!(cascade_tests::Reply::error_fields(&blank), ["reason"]);

    // A corrected name: reissue, never edit.
    app.patch(
        &format!("/api/v1/people/{b}"),
        &app.admin,
        json!({ "name": "Tomás Ó Briain" }),
    )
    .await
    .expect(200);
    let unchanged = app
        .get(&format!("/api/v1/certificates/{}", id_of(&cb)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        unchanged["person_name"], "Tomas Obrien",
        "an issued certificate keeps its details"
    );
    let reissued = app
        .post(
            &format!("/api/v1/certificates/{}/reissue", id_of(&cb)),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(reissued["person_name"], "Tomás Ó Briain");
    assert_ne!(reissued["number"], cb["number"]);
    assert_ne!(reissued["verification_code"], cb["verification_code"]);
    let old = verify(&app, cb["verification_code"].as_str().unwrap_or(""))
        .await
        .expect(200)
        .body;
    assert_eq!(old["status"], "superseded");
    let superseded = app
        .get(&format!("/api/v1/certificates/{}", id_of(&cb)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(superseded["superseded_by_id"], reissued["id"]);
    let new = verify(&app, reissued["verification_code"].as_str().unwrap_or(""))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (new["status"].as_str(), new["name"].as_str()),
        (Some("valid"), Some("Tomás Ó Briain"))
    );

    // The champion course's certificates last 36 months.
    app.clock.advance(Duration::days(37 * 31));
    let expired = verify(&app, reissued["verification_code"].as_str().unwrap_or(""))
        .await
        .expect(200)
        .body;
    assert_eq!(expired["status"], "expired");
}

#[tokio::test]
async fn licences_and_named_cascade_attendance_get_certificates_and_imports_do_not() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let trainer = app.person("Trainer", "trainer@example.org", org, "T").await;
    let attendee = app
        .person("Attendee", "attendee@example.org", org, "A")
        .await;
    run_session(&app, f.champion, &[trainer]).await;
    crate::trainers::bootstrap_accredited(&app, &f, trainer).await;
    let licences = app
        .get(
            &format!("/api/v1/certificates?person_id={trainer}&kind=licence"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let licence = &licences["items"][0];
    assert_eq!(
        licence["title"],
        "Programme five-to-thrive accredited trainer"
    );
    assert_eq!(
        licence["expires_on"],
        today(&app)
            .checked_add_months(Months::new(12))
            .map(|d| d.to_string())
            .unwrap_or_default()
    );
    let text = pdf_text(
        &app.get(
            &format!("/api/v1/certificates/{}/pdf", id_of(licence)),
            &app.admin,
        )
        .await
        .expect(200)
        .bytes,
    );
    assert!(
        text.contains("Trainer licence") && text.contains("Valid until"),
        "{text}"
    );
    // One sentence, naming the programme once.
    let sentence = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        sentence
            .contains("is licensed to deliver Programme five-to-thrive as an accredited trainer"),
        "{sentence}"
    );
    assert_eq!(
        sentence.matches("Programme five-to-thrive").count(),
        1,
        "{sentence}"
    );
    let imported =
        json!({ "person_id": attendee, "course_id": f.trainer, "completed_on": today(&app) });
    app.post("/api/v1/completions", &app.admin, imported)
        .await
        .expect(201);
    assert!(
        certificates_of(&app, attendee).await.is_empty(),
        "an imported completion was certified elsewhere"
    );

    let body = json!({
        "course_id": f.cascade, "lead_trainer_id": trainer, "delivered_on": today(&app), "start": "10:00",
        "duration_minutes": 90, "mode": "online", "attendee_ids": [attendee],
    });
    let cascade = app
        .post("/api/v1/cascade-sessions", &app.admin, body.clone())
        .await
        .expect(201)
        .body;
    let certs = certificates_of(&app, attendee).await;
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["title"], "FTT ftt-cascade");
    let mut corrected = body.clone();
    corrected["attendee_ids"] = json!([]);
    corrected["headcounts"] = json!([{ "organisation_id": org, "count": 3 }]);
    app.request(
        "PUT",
        &format!("/api/v1/cascade-sessions/{}", id_of(&cascade)),
        Some(&app.admin),
        Some(corrected),
    )
    .await
    .expect(200);
    let after = certificates_of(&app, attendee).await;
    assert_eq!(
        after[0]["status"], "revoked",
        "a correction that removes an attendee revokes their certificate"
    );
}

#[tokio::test]
async fn verification_is_limited_per_client_address() {
    let app = TestApp::spawn().await;
    for _ in 0..30 {
        verify(&app, "AAAA-BBBB-CCCC-DDDD-EEEE").await.problem(404);
    }
    let limited = verify(&app, "AAAA-BBBB-CCCC-DDDD-EEEE").await;
    let retry = limited
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After: {retry:?}"
    );
    let problem = limited.problem(429);
    assert!(
        problem["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/too-many-requests")
    );
}

/// Extracted text without the direction marks poppler puts around right-to-left lines (they
/// are invisible and not part of the name).
fn without_direction_marks(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(u32::from(*c), 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069))
        .collect()
}

#[tokio::test]
async fn names_in_every_script_print_and_extract_exactly_and_an_unprintable_one_is_refused() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let mut people = Vec::new();
    for (i, (_, name)) in SAMPLE_NAMES.iter().enumerate() {
        people.push(
            app.person(name, &format!("p{i}@example.org"), org, &format!("S{i}"))
                .await,
        );
    }
    // Ge'ez (Ethiopic) has no built-in font.
    let abebe = app.person("አበበ በቀለ", "abebe@example.org", org, "ET").await;
    let mut everyone = people.clone();
    everyone.push(abebe);
    let session = run_session(&app, f.champion, &everyone).await;

    for ((script, name), person) in SAMPLE_NAMES.iter().zip(&people) {
        let certs = certificates_of(&app, *person).await;
        let pdf = app
            .get(
                &format!("/api/v1/certificates/{}/pdf", id_of(&certs[0])),
                &app.admin,
            )
            .await
            .expect(200);
        assert!(
            pdf.bytes.len() <= 40 * 1024,
            "{script}: {} bytes",
            pdf.bytes.len()
        );
        let text = without_direction_marks(&pdf_text(&pdf.bytes));
        assert!(
            text.lines().any(|line| line.trim() == *name),
            "{script}: {name:?} not extracted as one line from:\n{text}"
        );
    }

    // The Ethiopic name: the certificate is recorded and verifiable, but its PDF is refused
    // with a problem naming the characters, never printed as boxes.
    let certs = certificates_of(&app, abebe).await;
    assert_eq!(certs.len(), 1);
    let refused = app
        .get(
            &format!("/api/v1/certificates/{}/pdf", id_of(&certs[0])),
            &app.admin,
        )
        .await
        .expect(422);
    assert_eq!(kind(&refused.body), "unprintable-text");
    let detail = refused.body["detail"].as_str().unwrap_or("");
    assert!(detail.contains("U+12A0"), "{detail}");
    let code = certs[0]["verification_code"].as_str().unwrap_or("");
    assert_eq!(verify(&app, code).await.expect(200).body["status"], "valid");
    // The session's PDF holds every certificate, so it is refused the same way.
    let bulk = app
        .get(
            &format!("/api/v1/sessions/{session}/certificates/pdf"),
            &app.admin,
        )
        .await
        .expect(422);
    assert_eq!(kind(&bulk.body), "unprintable-text");
}

/// The QR code and printed link open a page that says in words whether the certificate stands,
/// showing only what the certificate shows; `Accept: application/json` there answers the API's
/// JSON. The page loads only the project's own stylesheet.
#[tokio::test]
async fn the_printed_link_opens_a_page_that_says_in_words_whether_the_certificate_stands() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app
        .person("Zoë Łukasiewicz-Ó Briain", "zoe@example.org", org, "Z")
        .await;
    run_session(&app, f.champion, &[zoe]).await;
    let c = certificates_of(&app, zoe).await.remove(0);
    let code = c["verification_code"].as_str().unwrap_or("").to_owned();
    let url = c["verify_url"].as_str().unwrap_or("");
    let path = url
        .strip_prefix("http://cascade.test")
        .unwrap_or(url)
        .to_owned();
    assert_eq!(path, format!("/verify/{code}"));

    let page = app.request("GET", &path, None, None).await.expect(200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    for expected in [
        "This certificate is valid",
        "Zoë Łukasiewicz-Ó Briain",
        c["number"].as_str().unwrap_or("?"),
        "<html lang=\"en-GB\">",
        "href=\"/assets/cascade.css\"",
    ] {
        assert!(
            page.text.contains(expected),
            "{expected:?} missing from the page"
        );
    }
    assert!(
        !page.text.contains("<script"),
        "pages work without JavaScript"
    );
    let header = |reply: &cascade_tests::Reply, name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");

    let as_json = app
        .request_with("GET", &path, None, &[("Accept", "application/json")], None)
        .await
        .expect(200);
    assert_eq!(as_json.body, verify(&app, &code).await.expect(200).body);
    assert_eq!(as_json.body["status"], "valid");

    let css = app
        .request("GET", "/assets/cascade.css", None, None)
        .await
        .expect(200);
    assert!(css.content_type.starts_with("text/css"));
    assert!(css.text.contains(".panel"));

    app.post(
        &format!("/api/v1/certificates/{}/revoke", id_of(&c)),
        &app.admin,
        json!({ "reason": "Attendance recorded in error" }),
    )
    .await
    .expect(200);
    let revoked = app.request("GET", &path, None, None).await.expect(200);
    let spoken = today(&app).format("%-d %B %Y").to_string();
    assert!(
        revoked.text.contains("This certificate has been revoked")
            && revoked.text.contains(&format!("withdrawn on {spoken}")),
        "{}",
        revoked.text
    );

    let unknown = app
        .request("GET", "/verify/AAAA-BBBB-CCCC-DDDD-EEEE", None, None)
        .await
        .expect(404);
    assert!(unknown.content_type.starts_with("text/html"));
    assert!(unknown.text.contains("No certificate has this code"));
    let unknown_json = app
        .request_with(
            "GET",
            "/verify/AAAA-BBBB-CCCC-DDDD-EEEE",
            None,
            &[("Accept", "application/json")],
            None,
        )
        .await;
    assert_eq!(kind(&unknown_json.problem(404)), "not-found");
}
