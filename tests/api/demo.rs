//! The demo a newcomer starts: the partnership and a programme year in progress, loaded twice
//! without changing anything the second time.

use cascade_tests::TestApp;
use entities::{bookings, cascade_sessions, certificates, messages, sessions, trainer_steps};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

async fn counts(app: &TestApp) -> [u64; 6] {
    [
        app.count(sessions::Entity).await,
        app.count(bookings::Entity).await,
        app.count(certificates::Entity).await,
        app.count(trainer_steps::Entity).await,
        app.count(cascade_sessions::Entity).await,
        app.count(messages::Entity).await,
    ]
}

#[tokio::test]
async fn the_demo_shows_a_year_in_progress_and_loading_it_twice_changes_nothing() {
    let app = TestApp::spawn().await;
    cascade::demo::load(&app.db)
        .await
        .expect("the partnership loads");
    assert!(
        cascade::demo::year::load(&app.state)
            .await
            .expect("the year loads")
    );
    let first = counts(&app).await;
    let [sessions, _, certificates, _, cascades, _] = first;
    assert_eq!(sessions, 4, "two held, two coming");
    assert!(certificates >= 10, "{certificates}");
    assert_eq!(cascades, 2);
    let waitlisted = bookings::Entity::find()
        .filter(bookings::Column::Status.eq(entities::enums::BookingStatus::Waitlisted))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(waitlisted, 2);
    let no_shows = bookings::Entity::find()
        .filter(bookings::Column::Status.eq(entities::enums::BookingStatus::NoShow))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(no_shows, 2);
    let programmes = app
        .get("/api/v1/programmes?limit=50", &app.admin)
        .await
        .expect(200);
    let ftt = programmes.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["code"] == "five-to-thrive")
        .and_then(|p| p["id"].as_str())
        .expect("Five to Thrive")
        .to_owned();
    let trainers = app
        .get(
            &format!("/api/v1/trainers?programme_id={ftt}&limit=50"),
            &app.admin,
        )
        .await
        .expect(200);
    assert_eq!(trainers.body["accredited"], 2, "{}", trainers.body);
    let steps: std::collections::BTreeSet<String> = trainers.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["step"].as_str().map(str::to_owned))
        .collect();
    for step in [
        "champion",
        "nominated",
        "trainer_course_completed",
        "accredited",
    ] {
        assert!(steps.contains(step), "no trainer at {step}: {steps:?}");
    }
    let links = cascade::demo::year::sign_in_links(&app.state, &app.state.config)
        .await
        .expect("links");
    assert_eq!(links.len(), 2);
    assert!(
        links
            .iter()
            .all(|(_, l)| l.starts_with("http://cascade.test/sign-in/"))
    );

    cascade::demo::load(&app.db).await.expect("again");
    assert!(!cascade::demo::year::load(&app.state).await.expect("again"));
    assert_eq!(counts(&app).await, first, "loading twice changes nothing");
    let keys = app
        .get("/api/v1/api-keys?limit=50", &app.admin)
        .await
        .expect(200);
    let active = keys.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["revoked_at"].is_null())
        .count();
    assert_eq!(
        active, 2,
        "the test's admin and the demo coordinator; no loader key left"
    );
}

#[tokio::test]
async fn accredited_trainers_are_told_sixty_and_fourteen_days_before_their_licence_ends() {
    let app = TestApp::spawn().await;
    cascade::demo::load(&app.db)
        .await
        .expect("the partnership loads");
    cascade::demo::year::load(&app.state)
        .await
        .expect("the year loads");
    let scan = || async {
        let ctx = cascade::ctx::Ctx::system(&app.db, &app.clock);
        cascade::domain::mail::timed::queue_licence_notices(&ctx)
            .await
            .expect("the scan runs")
    };
    assert_eq!(
        scan().await,
        0,
        "licences of a year, accredited three weeks ago"
    );
    // The demo's two licences end 12 months after accreditation, 21 days ago: in ~344 days.
    app.clock.advance(chrono::Duration::days(300));
    assert_eq!(scan().await, 2, "the 60-day notices");
    scan().await;
    app.clock.advance(chrono::Duration::days(35));
    assert_eq!(scan().await, 2, "the 14-day notices");
    app.send_mail().await;
    let notices = app
        .mailbox()
        .into_iter()
        .filter(|m| m.kind == "licence_expiring")
        .collect::<Vec<_>>();
    assert_eq!(notices.len(), 4, "two each, never more");
    let to: std::collections::BTreeSet<_> = notices.iter().map(|m| m.to_address.clone()).collect();
    assert_eq!(
        to.into_iter().collect::<Vec<_>>(),
        ["lukasz.nowak@nhs.example", "zoe.ashworth@nhs.example"]
    );
    assert!(
        notices.iter().any(|m| m.subject.contains("ends in")),
        "{:?}",
        notices[0].subject
    );
    assert!(notices.iter().all(|m| m.raw.contains("List-Unsubscribe:")));
}
