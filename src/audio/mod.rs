//! Audio in: sources that yield blocks of samples per channel, and resampling to the analysis rate.

pub mod file;
pub mod resample;
pub mod source;

pub use file::FileSource;
pub use resample::StreamResampler;
pub use source::{Replay, Source, channels_identical};

/// The rate every analysis stage works at.
pub const ANALYSIS_RATE: u32 = 16_000;
