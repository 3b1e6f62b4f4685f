//! The trait every audio source implements, live or recorded.

use crate::error::Result;

/// A stream of planar audio blocks, one vector per channel.
///
/// Live capture and file decoding both implement this, so the pipeline downstream cannot tell
/// them apart: review is the live pipeline run faster than real time.
pub trait Source {
    /// Samples per second per channel.
    fn sample_rate(&self) -> u32;
    /// Number of channels (1 or 2 for a call).
    fn channels(&self) -> usize;
    /// Total frames, when the source knows it (used for progress only).
    fn total_frames(&self) -> Option<u64>;
    /// Replace the contents of `out` with the next block, one vector per channel (resized to
    /// the channel count). Returns the number of frames in the block; 0 means the stream ended.
    fn read(&mut self, out: &mut Vec<Vec<f32>>) -> Result<usize>;
    /// Problems met so far that did not stop decoding (skipped packets, early end).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}
