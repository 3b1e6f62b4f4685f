//! calmline: a real-time voice-call sentiment monitor for call centres.
//!
//! One pipeline serves live calls and recorded files: a [`audio::Source`] yields blocks of
//! samples per speaker, [`pipeline::Pipeline`] turns them into [`events::Event`]s (levels,
//! baselines, escalation episodes, conversation facts), and consumers (the review report, the
//! live view) only ever see those events.
#![warn(missing_docs)]

pub mod analysis;
pub mod audio;
pub mod cli;
pub mod coach;
pub mod config;
#[cfg(feature = "diarise")]
pub mod diarise;
pub mod dsp;
pub mod error;
pub mod events;
pub mod hub;
pub mod language;
pub mod live;
pub mod pipeline;
pub mod queue;
pub mod report;
pub mod review;
pub mod transcribe;
pub mod ui;
pub mod uplink;

pub use config::Config;
pub use error::{Error, Result};
