//! A source over samples already in memory (a diarised mono call split into one channel per
//! speaker).

use super::Source;
use crate::error::Result;

/// Planar samples in memory, read in blocks of 0.1 s.
pub struct MemorySource {
    rate: u32,
    channels: Vec<Vec<f32>>,
    pos: usize,
}

impl MemorySource {
    /// A source of `channels` (equal lengths) at `rate` Hz.
    pub fn new(rate: u32, channels: Vec<Vec<f32>>) -> Self {
        MemorySource {
            rate,
            channels,
            pos: 0,
        }
    }

    /// Exchange the two channels and start again from the beginning.
    pub fn swap_channels(&mut self) {
        self.channels.reverse();
        self.pos = 0;
    }

    fn len(&self) -> usize {
        self.channels.iter().map(Vec::len).min().unwrap_or(0)
    }
}

impl Source for MemorySource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        self.channels.len()
    }
    fn total_frames(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
    fn read(&mut self, out: &mut Vec<Vec<f32>>) -> Result<usize> {
        let n = (self.rate as usize / 10).max(1).min(self.len() - self.pos);
        out.resize(self.channels.len(), Vec::new());
        for (o, c) in out.iter_mut().zip(&self.channels) {
            o.clear();
            o.extend_from_slice(&c[self.pos..self.pos + n]);
        }
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_everything_once_in_blocks() {
        let mut s = MemorySource::new(100, vec![(0..25).map(|i| i as f32).collect(); 2]);
        let mut out = Vec::new();
        let mut got = Vec::new();
        loop {
            let n = s.read(&mut out).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(out.len(), 2);
            got.extend_from_slice(&out[1][..n]);
        }
        assert_eq!(got, (0..25).map(|i| i as f32).collect::<Vec<_>>());
    }
}
