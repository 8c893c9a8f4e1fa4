//! The rules a course must meet: its settings (capacity, threshold, reserved-place policy,
//! validity), its audiences and prerequisites (existing, active, no cycles), a unique code.

use super::*;

/// The settings checked the same way on create and update.
pub(super) struct Settings<'a> {
    pub(super) cpd_hours: Option<f64>,
    pub(super) completion_threshold_percent: Option<i32>,
    pub(super) certificate_validity_months: Option<i32>,
    pub(super) reserved_places: Option<&'a ReservedPlacePolicy>,
    pub(super) max_places_per_organisation: Option<i32>,
}

pub(super) fn check_settings(errors: &mut FieldErrors, s: &Settings<'_>) {
    if let Some(percent) = s.completion_threshold_percent {
        errors.check(
            (1..=100).contains(&percent),
            "completion_threshold_percent",
            "must be between 1 and 100",
        );
    }
    if let Some(hours) = s.cpd_hours {
        errors.check(
            (0.0..=200.0).contains(&hours) && (hours * 4.0).fract() == 0.0,
            "cpd_hours",
            "must be between 0 and 200, in quarters of an hour",
        );
    }
    if let Some(months) = s.certificate_validity_months {
        errors.check(
            (1..=120).contains(&months),
            "certificate_validity_months",
            "must be between 1 and 120",
        );
    }
    if let Some(policy) = s.reserved_places {
        errors.check(
            (1..=10_000).contains(&policy.share_bp),
            "reserved_places.share_bp",
            "must be between 1 and 10000 basis points",
        );
        errors.check(
            (0..=365).contains(&policy.release_days_before_start),
            "reserved_places.release_days_before_start",
            "must be between 0 and 365",
        );
    }
    if let Some(max) = s.max_places_per_organisation {
        errors.check(
            (1..=1000).contains(&max),
            "max_places_per_organisation",
            "must be between 1 and 1000",
        );
    }
}

pub(super) fn distinct(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// Checks that every staff group exists and every prerequisite exists, is not the course itself
/// and does not (through other courses) require this course.
pub(super) async fn check_links(
    db: &impl ConnectionTrait,
    errors: &mut FieldErrors,
    course_id: Uuid,
    audience: Option<&[Uuid]>,
    prerequisites: Option<&[Uuid]>,
) -> ApiResult<()> {
    if let Some(groups) = audience {
        let groups = distinct(groups);
        let found = staff_groups::Entity::find()
            .filter(staff_groups::Column::Id.is_in(groups.clone()))
            .count(db)
            .await?;
        errors.check(
            found == groups.len() as u64,
            "audience_staff_group_ids",
            "names a staff group that does not exist",
        );
    }
    if let Some(prereqs) = prerequisites {
        let prereqs = distinct(prereqs);
        if prereqs.contains(&course_id) {
            errors.add(
                "prerequisite_course_ids",
                "a course cannot be its own prerequisite",
            );
            return Ok(());
        }
        let found = courses::Entity::find()
            .filter(courses::Column::Id.is_in(prereqs.clone()))
            .count(db)
            .await?;
        if found != prereqs.len() as u64 {
            errors.add(
                "prerequisite_course_ids",
                "names a course that does not exist",
            );
            return Ok(());
        }
        let mut edges: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for edge in course_prerequisites::Entity::find().all(db).await? {
            if edge.course_id != course_id {
                edges
                    .entry(edge.course_id)
                    .or_default()
                    .push(edge.prerequisite_id);
            }
        }
        let mut stack = prereqs;
        let mut seen = HashSet::new();
        while let Some(next) = stack.pop() {
            if next == course_id {
                errors.add(
                    "prerequisite_course_ids",
                    "would make the course require itself through other courses",
                );
                break;
            }
            if seen.insert(next) {
                stack.extend(edges.get(&next).into_iter().flatten());
            }
        }
    }
    Ok(())
}

pub(super) async fn ensure_code_free(
    db: &impl ConnectionTrait,
    code: &str,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let except = except.map(|id| (courses::Column::Id, id));
    ensure_free::<courses::Entity>(db, courses::Column::Code, code, except, || {
        format!("A course with code `{code}` already exists.")
    })
    .await
}

pub(super) async fn replace_links(
    db: &impl ConnectionTrait,
    course_id: Uuid,
    audience: Option<&[Uuid]>,
    prerequisites: Option<&[Uuid]>,
) -> ApiResult<()> {
    if let Some(groups) = audience {
        course_audiences::Entity::delete_many()
            .filter(course_audiences::Column::CourseId.eq(course_id))
            .exec(db)
            .await?;
        let rows: Vec<_> = distinct(groups)
            .into_iter()
            .map(|staff_group_id| course_audiences::ActiveModel {
                course_id: Set(course_id),
                staff_group_id: Set(staff_group_id),
            })
            .collect();
        if !rows.is_empty() {
            course_audiences::Entity::insert_many(rows).exec(db).await?;
        }
    }
    if let Some(prereqs) = prerequisites {
        course_prerequisites::Entity::delete_many()
            .filter(course_prerequisites::Column::CourseId.eq(course_id))
            .exec(db)
            .await?;
        let rows: Vec<_> = distinct(prereqs)
            .into_iter()
            .map(|prerequisite_id| course_prerequisites::ActiveModel {
                course_id: Set(course_id),
                prerequisite_id: Set(prerequisite_id),
            })
            .collect();
        if !rows.is_empty() {
            course_prerequisites::Entity::insert_many(rows)
                .exec(db)
                .await?;
        }
    }
    Ok(())
}
