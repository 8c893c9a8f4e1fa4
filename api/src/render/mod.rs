//! Pure renderers: data in, bytes out. No database, no HTTP.

pub mod board_pdf;
pub mod calendar_ics;
pub mod certificate_pdf;
pub mod chart;
pub mod csv;
pub mod pdf;
pub mod text;
