//! Cursor pagination shared by every list: ordered by id (UUIDv7, so creation order), the cursor
//! is the last id of the page, opaque to clients.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// A page request, parsed from `limit` and `cursor`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn parse(limit: Option<u64>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }
}

fn decode_cursor(cursor: &str) -> ApiResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "cursor",
                "is not a cursor returned by this list; start without one",
            )
        })
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Runs `select` for one page ordered by `id_col`, maps each row, and returns the items with the
/// cursor of the next page (none on the last page).
pub async fn fetch_page<E, C, T>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_col: C,
    page: PageRequest,
    map: impl Fn(E::Model) -> T,
    id_of: impl Fn(&T) -> Uuid,
) -> ApiResult<(Vec<T>, Option<String>)>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let mut select = select.order_by_asc(id_col);
    if let Some(after) = page.after {
        select = select.filter(id_col.gt(after));
    }
    let mut rows: Vec<T> = crate::db::limited(db, select, page.limit + 1)
        .await?
        .into_iter()
        .map(map)
        .collect();
    let next = page_cursor(&mut rows, page.limit, id_of);
    Ok((rows, next))
}

/// For rows read with a limit of `limit + 1`: drops the row past the page and returns the
/// cursor of the next page (none on the last page).
pub fn page_cursor<T>(rows: &mut Vec<T>, limit: u64, id_of: impl Fn(&T) -> Uuid) -> Option<String> {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| encode_cursor(id_of(row)))
    } else {
        None
    }
}
