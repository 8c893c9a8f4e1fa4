//! The rules a cascade session must meet: its fields, its attendees and headcounts, and an
//! eligible trainer (accredited and active on the day, or in progression beside one).

use super::*;

/// Checks the input's fields and references, collecting every error.
pub(super) async fn check(
    db: &impl ConnectionTrait,
    input: &CascadeSessionInput,
    today: NaiveDate,
) -> ApiResult<courses::Model> {
    let mut errors = FieldErrors::default();
    let course = courses::Entity::find_by_id(input.course_id)
        .first(db)
        .await?;
    match &course {
        None => errors.add("course_id", "no such course"),
        Some(c) if c.kind != CourseKind::Cascade => {
            errors.add("course_id", "is not a cascade course")
        }
        Some(_) => {}
    }
    let trainers: HashSet<Uuid> = [Some(input.lead_trainer_id), input.co_trainer_id]
        .into_iter()
        .flatten()
        .collect();
    let found = people::Entity::find()
        .filter(people::Column::Id.is_in(trainers.iter().copied()))
        .count(db)
        .await?;
    errors.check(
        found as usize == trainers.len(),
        "lead_trainer_id",
        "names someone who is not a person",
    );
    errors.check(
        input.co_trainer_id != Some(input.lead_trainer_id),
        "co_trainer_id",
        "must differ from the lead trainer",
    );
    errors.check(
        input.delivered_on <= today,
        "delivered_on",
        "a return cannot be for a future date",
    );
    let time_ok =
        input.start.len() == 5 && chrono::NaiveTime::parse_from_str(&input.start, "%H:%M").is_ok();
    errors.check(time_ok, "start", "must be a time as HH:MM");
    errors.check(
        (15..=480).contains(&input.duration_minutes),
        "duration_minutes",
        "must be between 15 and 480",
    );
    if let Some(notes) = &input.notes {
        errors.check(
            notes.chars().count() <= 2000,
            "notes",
            "must be at most 2000 characters",
        );
    }
    if let Some(locality) = input.locality_id {
        let ok = localities::Entity::find_by_id(locality)
            .first(db)
            .await?
            .is_some();
        errors.check(ok, "locality_id", "no such locality");
    }
    errors.check(
        input.attendee_ids.len() <= 500,
        "attendee_ids",
        "must list at most 500 people",
    );
    let unique: HashSet<Uuid> = input.attendee_ids.iter().copied().collect();
    errors.check(
        unique.len() == input.attendee_ids.len(),
        "attendee_ids",
        "names the same person twice",
    );
    if !unique.is_empty() {
        let found = people::Entity::find()
            .filter(people::Column::Id.is_in(unique.iter().copied()))
            .count(db)
            .await?;
        errors.check(
            found as usize == unique.len(),
            "attendee_ids",
            "names someone who is not a person",
        );
    }
    errors.check(
        input.headcounts.len() <= 100,
        "headcounts",
        "must list at most 100 rows",
    );
    let mut pairs = HashSet::new();
    for (i, h) in input.headcounts.iter().enumerate() {
        errors.check(
            h.count >= 1 && h.count <= 10_000,
            &format!("headcounts[{i}].count"),
            "must be between 1 and 10000",
        );
        errors.check(
            pairs.insert((h.organisation_id, h.staff_group_id)),
            &format!("headcounts[{i}]"),
            "repeats an organisation and staff group",
        );
    }
    let orgs: HashSet<Uuid> = input.headcounts.iter().map(|h| h.organisation_id).collect();
    if !orgs.is_empty() {
        let found = organisations::Entity::find()
            .filter(organisations::Column::Id.is_in(orgs.iter().copied()))
            .count(db)
            .await?;
        errors.check(
            found as usize == orgs.len(),
            "headcounts",
            "names an organisation that does not exist",
        );
    }
    let groups: HashSet<Uuid> = input
        .headcounts
        .iter()
        .filter_map(|h| h.staff_group_id)
        .collect();
    if !groups.is_empty() {
        let found = staff_groups::Entity::find()
            .filter(staff_groups::Column::Id.is_in(groups.iter().copied()))
            .count(db)
            .await?;
        errors.check(
            found as usize == groups.len(),
            "headcounts",
            "names a staff group that does not exist",
        );
    }
    errors.check(
        !input.attendee_ids.is_empty() || !input.headcounts.is_empty(),
        "attendee_ids",
        "a cascade session needs named attendees, headcounts, or both",
    );
    errors.finish()?;
    course.ok_or_else(|| ApiError::not_found("Course"))
}

/// The trainers must be eligible on the day: one accredited and active; the other, if any,
/// accredited or already in the programme's pipeline.
pub(super) async fn check_eligible(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    input: &CascadeSessionInput,
) -> ApiResult<()> {
    let pipeline = pipeline_of(db, programme_id).await?;
    let trainers: Vec<Uuid> = [Some(input.lead_trainer_id), input.co_trainer_id]
        .into_iter()
        .flatten()
        .collect();
    let facts = facts_of(db, programme_id, &trainers).await?;
    let standing_of = |p: &Uuid| {
        facts
            .get(p)
            .map(|f| standing(&pipeline, f, input.delivered_on))
    };
    let accredited = |p: &Uuid| standing_of(p).is_some_and(|s| s.state == TrainerState::Accredited);
    let in_pipeline = |p: &Uuid| standing_of(p).is_some_and(|s| s.step.is_some());
    let ok = match input.co_trainer_id {
        None => accredited(&input.lead_trainer_id),
        Some(co) => {
            (accredited(&input.lead_trainer_id) && (accredited(&co) || in_pipeline(&co)))
                || (accredited(&co) && in_pipeline(&input.lead_trainer_id))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(refused(
            ProblemKind::TrainerNotEligible,
            format!(
                "On {} no accredited, active trainer of the programme delivered this session (a trainer in progression may co-deliver with one).",
                input.delivered_on
            ),
        ))
    }
}
