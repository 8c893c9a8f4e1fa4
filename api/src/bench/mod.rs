//! Benchmarks that print numbers (never timed tests): `cascade bench render`, `cascade bench
//! booking` and `cascade bench reads`. Run them from a release build.

pub mod booking;
mod harness;
mod output;
pub mod reads;
mod render;

pub use render::render_report;
