//! Analysis: per-speaker baselines and escalation, and conversation facts across speakers.

pub mod baseline;
pub mod conversation;
pub mod speaker;

pub use conversation::Conversation;
pub use speaker::SpeakerState;
