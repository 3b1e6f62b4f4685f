//! Audio in: sources that yield blocks of samples per channel, and resampling to the analysis rate.

pub mod file;
pub mod gsm;
pub mod memory;
pub mod mp4;
pub mod resample;
pub mod sniff;
pub mod source;

pub use file::FileSource;
pub use memory::MemorySource;
pub use resample::{StreamResampler, resample_all};
pub use source::{Replay, Source, channels_identical, read_all};

/// The rate every analysis stage works at.
pub const ANALYSIS_RATE: u32 = 16_000;
/// Lowest sample rate accepted from a file or a device: phone audio is 8 kHz.
pub const MIN_RATE: u32 = 8_000;
/// Highest sample rate accepted: studio audio goes up to 192 kHz.
pub const MAX_RATE: u32 = 192_000;
