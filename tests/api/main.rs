//! Black-box tests of Cascade through its HTTP API, one module per resource.

mod api_keys;
mod authorisation;
mod bookings;
mod calendars;
mod certificates;
mod concurrency;
mod courses;
mod errors;
mod events;
mod funding;
mod history;
mod integration;
mod mail;
mod openapi;
mod organisations;
mod partners;
mod people;
mod programmes;
mod progression;
mod reference;
mod reliability;
mod scim;
mod sessions;
mod sync;
mod trainers;
mod webhooks;
