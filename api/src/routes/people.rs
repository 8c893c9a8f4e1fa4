use crate::ctx::Ctx;
use crate::versions::{self, Precondition, Resource, versioned};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::{
        membership_requests::{self, Decision, MembershipRequest, RequestFilter, RequestStatus},
        people::{
            self, CreateOutcome, MembershipChanges, NewPerson, PeopleFilter, Person, PersonChanges,
        },
        privacy::{self, PersonExport},
        sign_in::{self, RoleGrant, RoleGrantInput},
        sync::{self, OnInvalid, SyncBatch, SyncMode, SyncResult},
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct PeopleApi;

/// The answer to adding a person.
#[derive(ApiResponse)]
pub enum PersonCreated {
    /// Created; `Location` is the new person's address.
    #[oai(status = 201)]
    Created(Json<Person>, #[oai(header = "Location")] String),
    /// Partner keys: the email belongs to someone your organisation does not employ. Nothing
    /// about them is shown; a membership request now waits for their employing organisation or a
    /// coordinator (`Location` is the request's address). Once confirmed, the person appears in
    /// your lists with your external id.
    #[oai(status = 202)]
    Requested(Json<MembershipRequest>, #[oai(header = "Location")] String),
}

#[OpenApi(prefix_path = "/people", tag = "ApiTags::People")]
impl PeopleApi {
    /// List people
    ///
    /// Coordinators and admins see everyone; a partner key sees only people with a membership of
    /// its own organisation; trainer and learner keys see only their own person.
    ///
    /// To find someone by your HR system's key, pass `external_id` (with `organisation_id`, which
    /// partner keys may omit).
    #[oai(path = "/", method = "get", operation_id = "list_people")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only people whose name or surname starts with this (case and accents ignored:
        /// `sian` finds Siân Roberts, and so does `rob`).
        name: Query<Option<String>>,
        /// Only people with a membership of this organisation.
        organisation_id: Query<Option<Uuid>>,
        /// Only the person with this external id in the organisation.
        external_id: Query<Option<String>>,
        /// Only the person with this email address (compared without regard to case).
        email: Query<Option<String>>,
        /// Only people of this staff group.
        staff_group_id: Query<Option<Uuid>>,
        /// Only people of this locality.
        locality_id: Query<Option<Uuid>>,
        /// Only active (true) or only deactivated (false) people.
        active: Query<Option<bool>>,
        /// Only people changed at or after this instant (RFC 3339): poll with the time of your
        /// last sync.
        updated_since: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Person>>> {
        auth.0.require(Action::ReadPeople)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = PeopleFilter {
            name: name.0,
            organisation_id: organisation_id.0,
            external_id: external_id.0,
            email: email.0,
            staff_group_id: staff_group_id.0,
            locality_id: locality_id.0,
            active: active.0,
            updated_since: updated_since.0,
        };
        Ok(Page::json(
            people::list(&*crate::auth::reads(req, &state), &auth.0, filter, page).await?,
        ))
    }

    /// Add a person
    ///
    /// Coordinators, admins and partner keys (which may name only their own organisation in
    /// `memberships`). An organisation's external id must not be in use by another of its
    /// people. For coordinators an email that already belongs to someone is a 409. For a partner
    /// key, an email that belongs to someone the partner cannot already see makes a membership
    /// request instead (202): the person's employer or a coordinator confirms it.
    #[oai(path = "/", method = "post", operation_id = "create_person")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewPerson>,
    ) -> ApiResult<PersonCreated> {
        auth.0.require(Action::WritePeople)?;
        Ok(
            match people::create(&Ctx::request(&state, &auth.0), body.0).await? {
                CreateOutcome::Created(person) => {
                    let location = format!("/api/v1/people/{}", person.id);
                    PersonCreated::Created(Json(person), location)
                }
                CreateOutcome::Requested(request) => {
                    let location = format!("/api/v1/membership-requests/{}", request.id);
                    PersonCreated::Requested(Json(request), location)
                }
            },
        )
    }

    /// Get a person
    ///
    /// A person outside the key's scope is reported as not found.
    #[oai(path = "/:id", method = "get", operation_id = "get_person")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Person>>> {
        auth.0.require(Action::ReadPeople)?;
        let version =
            versions::version(&*crate::auth::reads(req, &state), Resource::Person(id.0)).await?;
        Ok(versioned(
            people::get(&*crate::auth::reads(req, &state), &auth.0, id.0).await?,
            version,
        ))
    }

    /// Change or deactivate a person
    ///
    /// Coordinators, admins, and partner keys for their own people. Send only the fields to
    /// change; `null` clears the staff group or locality; `active: false` deactivates the person.
    #[oai(path = "/:id", method = "patch", operation_id = "update_person")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<PersonChanges>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Person>>> {
        auth.0.require(Action::WritePeople)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (person, version) = people::update(&ctx, id.0, body.0).await?;
        Ok(versioned(person, version))
    }

    /// Export everything held about a person (UK GDPR right of access)
    ///
    /// Admins and coordinators, or the person's own key. Their record and memberships,
    /// bookings, attendance, completions, certificates, trainer steps, cascade sessions attended
    /// and delivered, sessions they facilitate, calendar feeds and API keys bound to them (no
    /// secrets), and every audited change that concerned them — as stored, in one JSON document.
    #[oai(path = "/:id/export", method = "get", operation_id = "export_person")]
    async fn export(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<PersonExport>> {
        auth.0.require(Action::ReadPeople)?;
        Ok(Json(
            privacy::export(&state.db, &state.clock, &auth.0, id.0).await?,
        ))
    }

    /// Erase a person (UK GDPR right to erasure; admin only)
    ///
    /// Replaces their name with “Erased person”, their email with an anonymous marker and their
    /// HR ids with nothing; makes them inactive; revokes their calendar feeds, their API keys and
    /// their certificates (which then verify as `revoked`). Bookings, attendance, completions and
    /// cascade headcounts stay, so programme figures do not change. Recorded in the audit log.
    /// Erasing twice is a 409 (`already-erased`). It cannot be undone.
    #[oai(path = "/:id/erase", method = "post", operation_id = "erase_person")]
    async fn erase(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Person>> {
        auth.0.require(Action::ErasePeople)?;
        Ok(Json(
            privacy::erase(&Ctx::request(&state, &auth.0), id.0).await?,
        ))
    }

    /// Get the role a person signs in with
    ///
    /// People sign in to Cascade's pages by an emailed link and act as staff (a learner), as a
    /// trainer while in the trainer pipeline, or with the role an admin granted them here:
    /// `coordinator`, `admin` or `partner_lead` (the partner role for their employing
    /// organisation). `none` means no grant. Admin keys only.
    #[oai(
        path = "/:id/sign-in-role",
        method = "get",
        operation_id = "get_person_sign_in_role"
    )]
    async fn get_sign_in_role(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<RoleGrant>> {
        auth.0.require(Action::GrantRoles)?;
        Ok(Json(
            sign_in::get_grant(&Ctx::request(&state, &auth.0), id.0).await?,
        ))
    }

    /// Grant the role a person signs in with
    ///
    /// `coordinator`, `admin`, `partner_lead` (for the person's employing organisation: their
    /// primary membership; 422 without one) or `none` to withdraw it. Their open browser sessions
    /// act with the new role from their next request. Recorded in the audit log. Admin keys only.
    #[oai(
        path = "/:id/sign-in-role",
        method = "put",
        operation_id = "put_person_sign_in_role"
    )]
    async fn put_sign_in_role(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<RoleGrantInput>,
    ) -> ApiResult<Json<RoleGrant>> {
        auth.0.require(Action::GrantRoles)?;
        Ok(Json(
            sign_in::grant(&Ctx::request(&state, &auth.0), id.0, body.0).await?,
        ))
    }

    /// Add or change a person's membership of an organisation
    ///
    /// Creates the membership when the person has none with that organisation, otherwise changes
    /// it. Use it to record a second employer, change an external id, mark the employing
    /// organisation (`primary`), or end a membership when someone leaves (`active: false`).
    /// Partner keys may do this only for their own organisation and their own people.
    #[oai(
        path = "/:id/memberships/:organisation_id",
        method = "put",
        operation_id = "put_membership"
    )]
    async fn put_membership(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        organisation_id: Path<Uuid>,
        body: Json<MembershipChanges>,
        precondition: Precondition,
    ) -> ApiResult<Json<Person>> {
        auth.0.require(Action::WritePeople)?;
        precondition.refuse_unreadable()?;
        Ok(Json(
            people::put_membership(
                &Ctx::request(&state, &auth.0),
                id.0,
                organisation_id.0,
                body.0,
            )
            .await?,
        ))
    }
}

pub struct StaffSyncApi;

#[OpenApi(tag = "ApiTags::People")]
impl StaffSyncApi {
    /// Sync an organisation's staff from its HR system
    ///
    /// Up to 10,000 people keyed by the organisation's `external_id`. New people are created;
    /// changed details are updated (omitted staff group or locality clear them). A row whose
    /// email belongs to someone the organisation does not have becomes a membership request for
    /// their employer or a coordinator to confirm (`requested`; coordinator keys link at once,
    /// `linked`); a row for someone another organisation employs keeps the membership but not
    /// the row's details (`kept_by_employer`). In `snapshot` mode the batch is
    /// the whole staff: members missing from it have left — their membership ends, they are
    /// deactivated if they work nowhere else, their future places are cancelled and waitlists
    /// promoted. `dry_run=true` reports what would happen and writes nothing. By default nothing
    /// is written if any row is invalid (422 naming `people[i].field` for each). A partner key
    /// may sync only its own organisation.
    #[oai(
        path = "/organisations/:id/people/sync",
        method = "post",
        operation_id = "sync_people"
    )]
    async fn sync(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The organisation.
        id: Path<Uuid>,
        /// `upsert` (default) or `snapshot`.
        mode: Query<Option<SyncMode>>,
        /// Report without writing.
        dry_run: Query<Option<bool>>,
        /// `reject` (default: write nothing if any row is invalid) or `skip` (write the valid rows).
        on_invalid: Query<Option<OnInvalid>>,
        body: Json<SyncBatch>,
    ) -> ApiResult<Json<SyncResult>> {
        auth.0.require(Action::WritePeople)?;
        let result = sync::sync(
            &Ctx::request(&state, &auth.0),
            id.0,
            mode.0.unwrap_or_default(),
            dry_run.0.unwrap_or(false),
            on_invalid.0.unwrap_or_default(),
            body.0,
        )
        .await?;
        Ok(Json(result))
    }
}

pub struct MembershipRequestsApi;

#[OpenApi(prefix_path = "/membership-requests", tag = "ApiTags::People")]
impl MembershipRequestsApi {
    /// List membership requests
    ///
    /// A partner that adds (by `POST /people`, staff sync or SCIM) someone another organisation
    /// employs gets a request, not the person. Coordinators see every request; a partner key sees
    /// the requests its organisation made (without the person's id until confirmed) and those
    /// waiting for it as the person's employer.
    #[oai(path = "/", method = "get", operation_id = "list_membership_requests")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only requests in this state.
        status: Query<Option<RequestStatus>>,
        /// Partner keys: `true` for the requests your organisation made, `false` for those
        /// waiting for you as employer; omitted, both.
        mine: Query<Option<bool>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<MembershipRequest>>> {
        auth.0.require(Action::ReadPeople)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = RequestFilter {
            status: status.0,
            mine: mine.0,
        };
        Ok(Page::json(
            membership_requests::list(&*crate::auth::reads(req, &state), &auth.0, filter, page)
                .await?,
        ))
    }

    /// Get a membership request
    ///
    /// Coordinators see every request; a partner key sees those its organisation made (the person's
    /// id only once confirmed) and those waiting for it as the person's employer. Others are not
    /// found.
    #[oai(path = "/:id", method = "get", operation_id = "get_membership_request")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MembershipRequest>> {
        auth.0.require(Action::ReadPeople)?;
        Ok(Json(
            membership_requests::get(&*crate::auth::reads(req, &state), &auth.0, id.0).await?,
        ))
    }

    /// Confirm a membership request
    ///
    /// The person's employing organisation (partner key) or a coordinator: the requesting
    /// organisation gains a membership (not primary) with the external id it sent, and from then
    /// on sees the person. Refusals: `not-employer` (403), `request-decided` (409),
    /// `request-stale` (409: the requester is inactive or the person erased).
    #[oai(
        path = "/:id/confirm",
        method = "post",
        operation_id = "confirm_membership_request"
    )]
    async fn confirm(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MembershipRequest>> {
        auth.0.require(Action::WritePeople)?;
        Ok(Json(
            membership_requests::decide(&Ctx::request(&state, &auth.0), id.0, Decision::Confirm)
                .await?,
        ))
    }

    /// Decline or withdraw a membership request
    ///
    /// The person's employer or a coordinator declines; the requesting partner may withdraw its
    /// own request. Nothing about the person changes.
    #[oai(
        path = "/:id/decline",
        method = "post",
        operation_id = "decline_membership_request"
    )]
    async fn decline(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MembershipRequest>> {
        auth.0.require(Action::WritePeople)?;
        Ok(Json(
            membership_requests::decide(&Ctx::request(&state, &auth.0), id.0, Decision::Decline)
                .await?,
        ))
    }
}
