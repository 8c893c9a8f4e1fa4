//! HTTP only: each module declares one resource's operations; [`crate::api_service`] composes them.

pub mod api_keys;
pub mod attendance;
pub mod audit;
pub mod bookings;
pub mod calendars;
pub mod cascades;
pub mod certificates;
pub mod champions;
pub mod completions;
pub mod courses;
pub mod events;
pub mod funding;
pub mod health;
pub mod organisations;
pub mod people;
pub mod programmes;
pub mod reference;
pub mod reports;
pub mod scim;
pub mod sessions;
pub mod trainers;
pub mod webhooks;

use poem::IntoResponse;
use poem_openapi::{
    ApiResponse, Object, Tags,
    payload::Json,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, ToJSON, Type},
};

#[derive(Tags)]
pub enum ApiTags {
    /// Partner organisations: council, health, police, schools and voluntary-sector partners.
    Organisations,
    /// Staff of the partner organisations, and their memberships.
    People,
    /// Reference lists each partnership maintains: localities and staff groups.
    ReferenceLists,
    /// Training programmes.
    Programmes,
    /// Courses of the programmes.
    Courses,
    /// Scheduled runs of courses, with their sittings and availability.
    Sessions,
    /// Places on sessions, the waitlist and cancellations.
    Bookings,
    /// Registers of sessions, and closing them.
    Attendance,
    /// Completion records of courses.
    Completions,
    /// Champions of the programmes.
    Champions,
    /// Trainer progression from champion to accredited trainer.
    Trainers,
    /// Light-touch sessions trainers deliver to the wider workforce.
    CascadeSessions,
    /// Reports for the programme boards.
    Reports,
    /// Certificates, and their public verification.
    Certificates,
    /// Calendar downloads, invitations and subscription feeds.
    Calendars,
    /// Partners' contributions, costs, charges and the partner report.
    Funding,
    /// API keys (admin only).
    ApiKeys,
    /// The change feed partner systems poll.
    Events,
    /// Signed webhook subscriptions and their delivery log.
    Webhooks,
    /// The audit log of every write (admins and coordinators).
    Audit,
}

/// One page of a list. Pass `next_cursor` back as `cursor` to get the next page; it is absent on
/// the last page.
#[derive(Debug, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct Page<T: ParseFromJSON + ToJSON + Type + Send + Sync> {
    /// The items of this page, oldest first.
    pub items: Vec<T>,
    /// The cursor of the next page; absent when this is the last page.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T: ParseFromJSON + ToJSON + Type + Send + Sync> Page<T> {
    pub fn json((items, next_cursor): (Vec<T>, Option<String>)) -> Json<Self> {
        Json(Self { items, next_cursor })
    }
}

impl<T: ParseFromJSON + ToJSON + Type + Send + Sync + serde::Serialize> Page<T> {
    /// The page as a [`Serialized`] body.
    pub fn serialized((items, next_cursor): (Vec<T>, Option<String>)) -> Serialized<Self> {
        Serialized(Self { items, next_cursor })
    }
}

/// A JSON answer written straight from `T`'s serde `Serialize`, documented as `T` like
/// [`Json`]. poem-openapi's `Json` first builds the whole answer as a `serde_json::Value` (a map
/// with an allocated key per field of every item); for the busiest lists that was a tenth of
/// the server's time. `T`'s serde attributes must write what its `ToJSON` writes:
/// [`crate::clock::serde_rfc3339`] for instants, `skip_serializing_if` where poem-openapi skips a `None`; the
/// tests compare the two.
pub struct Serialized<T>(pub T);

impl<T: Type> poem_openapi::payload::Payload for Serialized<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as poem_openapi::payload::Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as poem_openapi::payload::Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + serde::Serialize + Send> IntoResponse for Serialized<T> {
    fn into_response(self) -> poem::Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => poem::Response::builder()
                .content_type(<Self as poem_openapi::payload::Payload>::CONTENT_TYPE)
                .body(body),
            Err(err) => {
                poem::Error::new(err, poem::http::StatusCode::INTERNAL_SERVER_ERROR).into_response()
            }
        }
    }
}

impl<T: ToJSON + serde::Serialize> ApiResponse for Serialized<T> {
    fn meta() -> MetaResponses {
        <Json<T> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// The answer to a create.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON + Type + Send + Sync> {
    /// Created; `Location` is the new resource's address.
    #[oai(status = 201)]
    Created(Json<T>, #[oai(header = "Location")] String),
}

/// A report as JSON, or as CSV when the request's `Accept` asks for `text/csv`.
pub enum ReportResponse<T> {
    Json(T),
    Csv(String),
}

impl<T: ToJSON + Send + Sync> IntoResponse for ReportResponse<T> {
    fn into_response(self) -> poem::Response {
        match self {
            Self::Json(body) => Json(body).into_response(),
            Self::Csv(text) => poem::Response::builder()
                .content_type("text/csv; charset=utf-8")
                .body(text),
        }
    }
}

impl<T: ToJSON + Type + Send + Sync> ApiResponse for ReportResponse<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The report: JSON, or CSV (a header row, one record per line, fields quoted) when `Accept` asks for `text/csv`.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: T::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/csv; charset=utf-8",
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

pub fn wants_csv(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::domain::{
        organisations::SectorCode,
        sessions::{
            Session, SessionReservedPlaces, SessionStatusCode, Sitting, Venue,
            availability::Availability,
        },
    };

    /// A session with every optional field set (`full`) or none of them.
    fn session(full: bool) -> Session {
        let at = |h: u32, nanos: u32| {
            Utc.with_ymd_and_hms(2027, 3, 29, h, 30, 0)
                .single()
                .unwrap_or_default()
                + chrono::Duration::nanoseconds(i64::from(nanos))
        };
        let id = Uuid::from_u128(0x01a2_365d_8137_7109_a2ce_a530_5cad_c31a);
        Session {
            id,
            course_id: id,
            programme_id: id,
            status: if full {
                SessionStatusCode::Cancelled
            } else {
                SessionStatusCode::Scheduled
            },
            revision: 3,
            sittings: vec![Sitting {
                position: 1,
                date: NaiveDate::from_ymd_opt(2027, 3, 29).unwrap_or_default(),
                start: "09:30".into(),
                end: "16:00".into(),
                starts_at: at(8, 0),
                ends_at: at(15, 0),
            }],
            starts_at: at(8, 0),
            ends_at: at(15, 0),
            venue: full.then(|| Venue {
                name: "Salle d'Été \"Ñ\" \u{1F600}".into(),
                address: Some("1 Quay\nLine two".into()),
                locality_id: Some(id),
            }),
            online_url: full.then(|| "https://meet.example/a?b=c&d".into()),
            facilitator_ids: if full { vec![id, id] } else { vec![] },
            audience_staff_group_ids: if full { vec![id] } else { vec![] },
            booking_opens_at: full.then(|| at(1, 5)),
            booking_closes_at: at(2, 0),
            late_cancellation_days: 3,
            reserved_places: full.then(|| SessionReservedPlaces {
                sector: SectorCode::Voluntary,
                places: 2,
                release_at: at(3, 0),
                released: true,
            }),
            availability: Availability {
                capacity: 20,
                confirmed: 10,
                reserved_places: 2,
                reserved_taken: 1,
                reserved_free: 1,
                general_free: 9,
                free: 10,
                waitlist: 0,
            },
            cancel_reason: full.then(|| "Trainer ill".into()),
            cancelled_at: full.then(|| at(4, 319_034_725)),
            created_at: at(5, 319_034_725),
            updated_at: at(6, 1_000),
        }
    }

    /// A `Serialized` page is byte for byte what poem-openapi's `Json` writes for it: the serde
    /// attributes of every type in it match their `ToJSON` (a field added without them — an
    /// optional one written as `null`, an instant as `…Z` — fails here).
    #[test]
    fn a_serialized_page_is_what_json_writes() {
        for next_cursor in [None, Some("AZo2XYE3cQmizqUwXK3DGg".to_owned())] {
            let page = Page {
                items: vec![session(true), session(false)],
                next_cursor,
            };
            let serialized = serde_json::to_vec(&page).unwrap_or_default();
            let json = serde_json::to_vec(&page.to_json()).unwrap_or_default();
            assert!(!json.is_empty());
            assert_eq!(
                String::from_utf8_lossy(&serialized),
                String::from_utf8_lossy(&json)
            );
        }
    }
}
