//! The supervisors' hub: the server every agent's monitor reports to, its store, and the floor
//! view supervisors keep open in a browser.
//!
//! Monitors POST batches of [`crate::events::Envelope`]s to `/api/ingest` with their station
//! token; the hub stores each event once (by id), keeps one tile per active call and one open
//! alert per call and kind, and streams changes to the signed-in supervisors who may see that
//! team. See the README's "Supervisor hub" section for the API.

pub mod auth;
pub mod floor;
mod metrics;
pub mod nats;
mod page;
mod server;
pub mod store;
pub mod throttle;

pub use server::{HubOptions, Parsed, parse_batch, run, valid_call_id};
pub use store::Store;
