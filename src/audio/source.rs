//! The trait every audio source implements, live or recorded.

use crate::error::Result;

/// A stream of planar audio blocks, one vector per channel.
///
/// Live capture and file decoding both implement this, so the pipeline downstream cannot tell
/// them apart: review is the live pipeline run faster than real time.
pub trait Source: Send {
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

/// A source whose first blocks were read ahead (to inspect the audio before choosing how to
/// analyse it) and are replayed before the rest, optionally keeping only the first channel.
pub struct Replay<'a> {
    inner: &'a mut dyn Source,
    ahead: std::collections::VecDeque<Vec<Vec<f32>>>,
    first_channel_only: bool,
}

impl<'a> Replay<'a> {
    /// Read up to `frames` frames ahead from `inner`.
    pub fn read_ahead(inner: &'a mut dyn Source, frames: usize) -> Result<Self> {
        let mut ahead = std::collections::VecDeque::new();
        let mut got = 0;
        while got < frames {
            let mut block = Vec::new();
            let n = inner.read(&mut block)?;
            if n == 0 {
                break;
            }
            got += n;
            ahead.push_back(block);
        }
        Ok(Self {
            inner,
            ahead,
            first_channel_only: false,
        })
    }

    /// The blocks read ahead.
    pub fn ahead(&self) -> impl Iterator<Item = &Vec<Vec<f32>>> {
        self.ahead.iter()
    }

    /// From now on deliver only channel 0 (both channels carry the same signal).
    pub fn first_channel_only(&mut self) {
        self.first_channel_only = true;
    }
}

impl Source for Replay<'_> {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }
    fn channels(&self) -> usize {
        if self.first_channel_only {
            1
        } else {
            self.inner.channels()
        }
    }
    fn total_frames(&self) -> Option<u64> {
        self.inner.total_frames()
    }
    fn read(&mut self, out: &mut Vec<Vec<f32>>) -> Result<usize> {
        let n = match self.ahead.pop_front() {
            Some(block) => {
                *out = block;
                out.first().map_or(0, Vec::len)
            }
            None => self.inner.read(out)?,
        };
        if self.first_channel_only {
            out.truncate(1);
        }
        Ok(n)
    }
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }
}

/// Whether the stereo blocks carry the same signal on both channels (a "dual mono" recording
/// of one mixed line), judged on everything read ahead.
pub fn channels_identical<'b>(blocks: impl Iterator<Item = &'b Vec<Vec<f32>>>) -> bool {
    let (mut diff, mut energy) = (0.0f64, 0.0f64);
    for b in blocks {
        let [l, r] = &b[..] else { return false };
        for (a, c) in l.iter().zip(r) {
            diff += ((a - c) as f64).powi(2);
            energy += (*a as f64).powi(2) + (*c as f64).powi(2);
        }
    }
    // The same signal within -20 dB (lossy codecs and cheap recorders make the copies differ a
    // little); two people on two channels differ by far more, even with echo between them.
    energy > 1e-6 && diff < energy * 1e-2
}

/// Read a whole source into memory, one vector per channel.
pub fn read_all(source: &mut dyn Source) -> Result<Vec<Vec<f32>>> {
    let mut all = vec![Vec::new(); source.channels()];
    let mut block = Vec::new();
    loop {
        let n = source.read(&mut block)?;
        if n == 0 {
            return Ok(all);
        }
        for (a, b) in all.iter_mut().zip(&block) {
            a.extend_from_slice(&b[..n]);
        }
    }
}
