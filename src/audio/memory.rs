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

/// Fade at the edges of a stretch cut in or out (s): a hard cut clicks, and the click reads as
/// a level onset.
pub const FADE_S: f64 = 0.02;

/// 1 inside `[a, b)`, falling linearly to 0 over `fade` samples on either side.
pub fn fade_gain(i: usize, a: usize, b: usize, fade: f64) -> f32 {
    let edge = if i < a {
        (a - i) as f64
    } else if i >= b {
        (i - b + 1) as f64
    } else {
        0.0
    };
    (1.0 - edge / fade).max(0.0) as f32
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

    /// Silence `channel` from `start_s` to `end_s`, with [`FADE_S`] fades, and read again from
    /// the start.
    pub fn silence(&mut self, channel: usize, start_s: f64, end_s: f64) {
        let Some(x) = self.channels.get_mut(channel) else {
            return;
        };
        let rate = self.rate as f64;
        let fade = (FADE_S * rate).max(1.0);
        let a = ((start_s * rate).max(0.0) as usize).min(x.len());
        let b = ((end_s * rate).max(0.0) as usize).min(x.len());
        let lo = a.saturating_sub(fade as usize);
        let hi = (b + fade as usize).min(x.len());
        for (i, v) in x.iter_mut().enumerate().take(hi).skip(lo) {
            *v *= 1.0 - fade_gain(i, a, b, fade);
        }
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

    #[test]
    fn silence_fades_one_channel_out_and_in_and_rewinds() {
        // 1 kHz: the fades are 20 samples.
        let mut s = MemorySource::new(1000, vec![vec![1.0; 200]; 2]);
        let mut out = Vec::new();
        s.read(&mut out).unwrap();
        s.silence(1, 0.05, 0.1);
        let (x, y) = (&s.channels[0], &s.channels[1]);
        assert!(
            x.iter().all(|&v| v == 1.0),
            "the other channel is untouched"
        );
        assert!(y[50..100].iter().all(|&v| v == 0.0));
        assert!(y[..30].iter().chain(&y[120..]).all(|&v| v == 1.0));
        assert!(y[30..50].windows(2).all(|w| w[1] <= w[0]) && y[40] > 0.0 && y[40] < 1.0);
        assert!(y[100..120].windows(2).all(|w| w[1] >= w[0]) && y[110] > 0.0 && y[110] < 1.0);
        assert_eq!(s.pos, 0);
        // Out of range is no harm.
        s.silence(5, 0.0, 1.0);
        s.silence(0, 0.15, 9.0);
        assert!(s.channels[0][170..].iter().all(|&v| v == 0.0));
    }
}
