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
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Page<T: ParseFromJSON + ToJSON + Type + Send + Sync> {
    /// The items of this page, oldest first.
    pub items: Vec<T>,
    /// The cursor of the next page; absent when this is the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl<T: ParseFromJSON + ToJSON + Type + Send + Sync> Page<T> {
    pub fn json((items, next_cursor): (Vec<T>, Option<String>)) -> Json<Self> {
        Json(Self { items, next_cursor })
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
