//! Composing a queued message when it is sent: the words, in plain English, with the person's
//! name exactly as recorded; the invitation (the same calendar the API serves) as an iMIP part
//! and an `.ics` attachment; a certificate's PDF.

use crate::db::FirstRow as _;
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::London;
use entities::{
    bookings, courses,
    enums::{BookingStatus, SessionStatus},
    messages, people, sessions, sittings,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use super::Kind;
use crate::{
    clock::Clock,
    config::Config,
    domain::{calendars, certificates},
    error::{ApiError, ApiResult},
    render::calendar_ics::Method,
};

/// The words of a message, as both its text and its HTML part show them.
#[derive(Template)]
#[template(path = "mail/letter.txt")]
struct TextLetter<'a> {
    greeting: &'a str,
    paragraphs: &'a [String],
    details: &'a [(String, String)],
    action: &'a Option<(String, String)>,
    notes: &'a [String],
    signature: &'a str,
    unsubscribe_url: &'a Option<String>,
}

#[derive(Template)]
#[template(path = "mail/letter.html")]
struct HtmlLetter<'a> {
    subject: &'a str,
    greeting: &'a str,
    paragraphs: &'a [String],
    details: &'a [(String, String)],
    action: &'a Option<(String, String)>,
    notes: &'a [String],
    signature: &'a str,
    unsubscribe_url: &'a Option<String>,
}

/// A file sent with a message.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// A message ready to send.
#[derive(Debug, Clone)]
pub struct Composed {
    pub to_name: String,
    pub to_email: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// An iMIP invitation or cancellation: the calendar and its method.
    pub calendar: Option<(String, Method)>,
    pub attachments: Vec<Attachment>,
    /// Non-essential: the message carries `List-Unsubscribe` with this address.
    pub unsubscribe_url: Option<String>,
}

/// Why a queued message is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Because(String),
}

struct Letter {
    subject: String,
    paragraphs: Vec<String>,
    details: Vec<(String, String)>,
    action: Option<(String, String)>,
    notes: Vec<String>,
    calendar: Option<(String, Method)>,
    attachments: Vec<Attachment>,
}

impl Letter {
    fn new(subject: String) -> Self {
        Self {
            subject,
            paragraphs: Vec::new(),
            details: Vec::new(),
            action: None,
            notes: Vec::new(),
            calendar: None,
            attachments: Vec::new(),
        }
    }

    fn say(mut self, p: impl Into<String>) -> Self {
        self.paragraphs.push(p.into());
        self
    }
}

/// 3 March 2027.
pub fn spoken_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// Tuesday 8 December 2026, 09:30 to 12:30 (UK time).
pub fn spoken_span(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let (s, e) = (start.with_timezone(&London), end.with_timezone(&London));
    if s.date_naive() == e.date_naive() {
        format!(
            "{}, {} to {}",
            s.format("%A %-d %B %Y"),
            s.format("%H:%M"),
            e.format("%H:%M")
        )
    } else {
        format!(
            "{} to {}",
            s.format("%A %-d %B %Y, %H:%M"),
            e.format("%A %-d %B %Y, %H:%M")
        )
    }
}

/// What people are told about a session.
pub struct SessionFacts {
    pub session: sessions::Model,
    pub title: String,
    pub when: Vec<String>,
    pub first_day: String,
    pub place: Option<String>,
}

impl SessionFacts {
    pub async fn load(db: &impl ConnectionTrait, id: uuid::Uuid) -> ApiResult<Option<Self>> {
        let Some(session) = sessions::Entity::find_by_id(id).first(db).await? else {
            return Ok(None);
        };
        let title = courses::Entity::find_by_id(session.course_id)
            .first(db)
            .await?
            .map_or_else(String::new, |c| c.title);
        let parts = sittings::Entity::find()
            .filter(sittings::Column::SessionId.eq(id))
            .order_by_asc(sittings::Column::Position)
            .all(db)
            .await?;
        let when = parts
            .iter()
            .map(|p| spoken_span(p.starts_at, p.ends_at))
            .collect();
        let first_day = session
            .starts_at
            .with_timezone(&London)
            .format("%-d %B %Y")
            .to_string();
        let place = match (&session.venue_name, &session.venue_address) {
            (Some(name), Some(address)) => Some(format!("{name}, {address}")),
            (Some(name), None) => Some(name.clone()),
            (None, _) => None,
        };
        Ok(Some(Self {
            session,
            title,
            when,
            first_day,
            place,
        }))
    }

    pub fn details(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let many = self.when.len() > 1;
        for (i, w) in self.when.iter().enumerate() {
            let label = if many {
                format!("Part {} of {}", i + 1, self.when.len())
            } else {
                "When".to_owned()
            };
            out.push((label, w.clone()));
        }
        if let Some(place) = &self.place {
            out.push(("Where".to_owned(), place.clone()));
        }
        if let Some(url) = &self.session.online_url {
            out.push(("Join online".to_owned(), url.clone()));
        }
        out
    }
}

fn invitation_files(calendar: &Option<(String, Method)>) -> Vec<Attachment> {
    calendar
        .iter()
        .map(|(ics, method)| Attachment {
            filename: if *method == Method::Cancel {
                "cancellation.ics".to_owned()
            } else {
                "invitation.ics".to_owned()
            },
            content_type: "application/ics",
            body: ics.clone().into_bytes(),
        })
        .collect()
}

/// The words and parts of a queued message, or why it is no longer to be sent.
pub async fn compose(
    db: &impl ConnectionTrait,
    config: &Config,
    clock: &Clock,
    m: &messages::Model,
    unsubscribe_token: &str,
) -> ApiResult<Result<Composed, Skip>> {
    let skip = |why: &str| Ok(Err(Skip::Because(why.to_owned())));
    let Some(kind) = Kind::parse(&m.kind) else {
        return skip("unknown kind of message");
    };
    let Some(person) = people::Entity::find_by_id(m.person_id).first(db).await? else {
        return skip("the person is gone");
    };
    if person.erased_at.is_some() {
        return skip("the person's details were erased");
    }
    if !kind.essential() && person.mail_opt_out {
        return skip("the person asked for no reminders or notices");
    }
    let data: Value = serde_json::from_str(&m.data).unwrap_or(Value::Null);
    let my = format!("{}/my", config.public_url);
    let booking = match m.booking_id {
        Some(id) => bookings::Entity::find_by_id(id).first(db).await?,
        None => None,
    };
    let facts = match m.session_id {
        Some(id) => SessionFacts::load(db, id).await?,
        None => None,
    };
    let letter = match (kind, &booking, &facts) {
        (
            Kind::BookingConfirmed | Kind::BookingPromoted | Kind::Reminder | Kind::SessionChanged,
            Some(b),
            Some(f),
        ) => {
            if b.status != BookingStatus::Confirmed || f.session.status == SessionStatus::Cancelled
            {
                return skip("the place is no longer held");
            }
            let (subject, opening) = match kind {
                Kind::BookingConfirmed => (
                    format!("Your place on {} on {} is confirmed", f.title, f.first_day),
                    format!("Your place on {} is confirmed.", f.title),
                ),
                Kind::BookingPromoted => (
                    format!("A place has come free: you are booked on {}", f.title),
                    format!(
                        "A place has come free on {} and it is yours: you are no longer on \
                         the waitlist.",
                        f.title
                    ),
                ),
                Kind::Reminder => (
                    format!("Reminder: {} on {}", f.title, f.first_day),
                    format!("This is a reminder that you have a place on {}.", f.title),
                ),
                _ => (
                    format!("{} on {} has changed", f.title, f.first_day),
                    format!(
                        "The details of {} have changed. Here is how it stands now; the \
                         attached invitation updates your calendar.",
                        f.title
                    ),
                ),
            };
            let calendar = Some(
                calendars::invitation_of(db, config, clock, b, Some(&f.session), Some(&person))
                    .await?,
            );
            let mut letter = Letter::new(subject).say(opening);
            letter.details = f.details();
            if kind != Kind::Reminder {
                letter = letter.say(
                    "The invitation is attached: open it to add the session to your calendar.",
                );
            }
            letter.notes.push(format!(
                "If you cannot come, cancel your place as soon as you can so someone on the \
                 waitlist can have it. Cancelling less than {} days before it starts may be \
                 charged to your organisation.",
                f.session.late_cancellation_days
            ));
            letter.action = Some(("See or cancel your place".to_owned(), my.clone()));
            letter.attachments = invitation_files(&calendar);
            letter.calendar = calendar;
            letter
        }
        (Kind::SessionMessage, Some(b), Some(f)) => {
            if b.status != BookingStatus::Confirmed || f.session.status == SessionStatus::Cancelled
            {
                return skip("the place is no longer held");
            }
            let subject = data["subject"].as_str().unwrap_or_default();
            let from = data["from"].as_str().unwrap_or("Your training coordinator");
            let mut letter = Letter::new(format!("{}: {subject}", f.title))
                .say(format!("A message from {from} about {}:", f.title));
            for paragraph in data["text"]
                .as_str()
                .unwrap_or_default()
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                letter = letter.say(paragraph.to_owned());
            }
            letter.details = f.details();
            letter.action = Some(("See your place".to_owned(), my.clone()));
            letter
        }
        (Kind::BookingWaitlisted, Some(b), Some(f)) => {
            if b.status != BookingStatus::Waitlisted {
                return skip("no longer on the waitlist");
            }
            let position = bookings::Entity::find()
                .filter(bookings::Column::SessionId.eq(b.session_id))
                .filter(bookings::Column::Status.eq(BookingStatus::Waitlisted))
                .filter(bookings::Column::WaitlistSeq.lte(b.waitlist_seq.unwrap_or(i64::MAX)))
                .count(db)
                .await?;
            let mut letter = Letter::new(format!(
                "You are on the waitlist for {} on {}",
                f.title, f.first_day
            ))
            .say(format!(
                "{} is full, so you are on its waitlist: number {position}.",
                f.title
            ))
            .say(
                "If a place comes free it is offered in waitlist order, and we will email you \
                 with the invitation.",
            );
            letter.details = f.details();
            letter.action = Some(("See your waitlist position".to_owned(), my.clone()));
            letter
        }
        (Kind::BookingCancelled | Kind::SessionCancelled, Some(b), Some(f)) => {
            let had_place = b.confirmed_at.is_some();
            let mut letter = if kind == Kind::SessionCancelled {
                let mut l = Letter::new(format!("{} on {} is cancelled", f.title, f.first_day))
                    .say(format!(
                        "We are sorry: {} on {} has been cancelled.",
                        f.title, f.first_day
                    ));
                if let Some(reason) = &f.session.cancel_reason {
                    l.details.push(("Reason".to_owned(), reason.clone()));
                }
                l.say("Your organisation will not be charged for this place.")
            } else {
                let mut l = Letter::new(format!(
                    "Your place on {} on {} is cancelled",
                    f.title, f.first_day
                ));
                l = l.say(if had_place {
                    format!("Your place on {} has been cancelled.", f.title)
                } else {
                    format!("You have left the waitlist for {}.", f.title)
                });
                if b.late_cancellation {
                    l = l.say(format!(
                        "It was cancelled less than {} days before the session, so your \
                         organisation may be charged for the place.",
                        f.session.late_cancellation_days
                    ));
                }
                l
            };
            if had_place {
                let calendar = Some(
                    calendars::invitation_of(db, config, clock, b, Some(&f.session), Some(&person))
                        .await?,
                );
                letter =
                    letter.say("The attached cancellation removes the session from your calendar.");
                letter.attachments = invitation_files(&calendar);
                letter.calendar = calendar;
            }
            letter.action = Some(("Find another session".to_owned(), format!("{my}/sessions")));
            letter
        }
        (Kind::CertificateIssued, _, _) => {
            let Some(id) = m.certificate_id else {
                return skip("no certificate");
            };
            let Some((pdf, c)) = certificates::pdf_for_holder(db, config, id).await? else {
                return skip("the certificate is no longer current");
            };
            let mut letter = Letter::new(format!("Your certificate: {}", c.title))
                .say(format!(
                    "Well done: your certificate for {} is attached.",
                    c.title
                ))
                .say(
                    "Anyone you show it to can check it is genuine with the link or QR code \
                     printed on it.",
                );
            letter.details = vec![
                ("Certificate number".to_owned(), c.number.clone()),
                ("Completed".to_owned(), spoken_date(c.completed_on)),
            ];
            if let Some(until) = c.expires_on {
                letter
                    .details
                    .push(("Valid until".to_owned(), spoken_date(until)));
            }
            letter.action = Some((
                "Check the certificate online".to_owned(),
                certificates::verify_url(config, &c.code),
            ));
            letter.attachments.push(Attachment {
                filename: format!("certificate-{}.pdf", c.number),
                content_type: "application/pdf",
                body: pdf,
            });
            letter
        }
        (Kind::RefreshDue, _, _) => {
            let title = data["course"].as_str().unwrap_or("your course").to_owned();
            let due = data["due_on"].as_str().unwrap_or_default().to_owned();
            let mut letter = Letter::new(format!("Your {title} refresh is due"))
                .say(format!(
                    "Your training as a champion for {title} needs refreshing by {due}."
                ))
                .say("Book a place on a session before then to stay a champion.");
            letter.action = Some(("Find a session".to_owned(), format!("{my}/sessions")));
            letter
        }
        (Kind::LicenceExpiring, _, _) => {
            let until = data["expires_on"].as_str().unwrap_or_default().to_owned();
            let days = data["days"].as_i64().unwrap_or_default();
            let mut letter = Letter::new(format!("Your trainer licence ends in {days} days"))
                .say(format!(
                    "Your licence to deliver the training ends on {until}."
                ))
                .say(
                    "To renew it, deliver the cascade sessions your licence asks for and ask \
                     your coordinator for the renewal step.",
                );
            letter.action = Some(("See your licence".to_owned(), my.clone()));
            letter
        }
        (Kind::SignInLink, _, _) => {
            let Some(token) = data["token"].as_str() else {
                return skip("the link was already sent");
            };
            let mut letter = Letter::new("Your link to sign in to Cascade".to_owned())
                .say("Use this link to sign in to Cascade and see your training.")
                .say("It works once, within 15 minutes.");
            letter.action = Some((
                "Sign in".to_owned(),
                format!("{}/sign-in/{token}", config.public_url),
            ));
            letter.notes.push(
                "If you did not ask to sign in, you can ignore this email: nobody can sign in \
                 without the link."
                    .to_owned(),
            );
            letter
        }
        _ => return skip("what it was about is gone"),
    };
    let unsubscribe_url = (!kind.essential())
        .then(|| format!("{}/unsubscribe/{unsubscribe_token}", config.public_url));
    Ok(Ok(render(person, letter, unsubscribe_url)?))
}

/// Fills in the letter's text and HTML.
fn render(
    person: people::Model,
    letter: Letter,
    unsubscribe_url: Option<String>,
) -> ApiResult<Composed> {
    let greeting = format!("Hello {},", person.name);
    let signature = "Workforce training, the children’s partnership";
    let failed = |err: askama::Error| ApiError::Internal(anyhow::anyhow!("rendering mail: {err}"));
    let text = TextLetter {
        greeting: &greeting,
        paragraphs: &letter.paragraphs,
        details: &letter.details,
        action: &letter.action,
        notes: &letter.notes,
        signature,
        unsubscribe_url: &unsubscribe_url,
    }
    .render()
    .map_err(failed)?;
    let html = HtmlLetter {
        subject: &letter.subject,
        greeting: &greeting,
        paragraphs: &letter.paragraphs,
        details: &letter.details,
        action: &letter.action,
        notes: &letter.notes,
        signature,
        unsubscribe_url: &unsubscribe_url,
    }
    .render()
    .map_err(failed)?;
    Ok(Composed {
        to_name: person.name,
        to_email: person.email,
        subject: letter.subject,
        text,
        html,
        calendar: letter.calendar,
        attachments: letter.attachments,
        unsubscribe_url,
    })
}
