//! Streaming sample-rate conversion to the analysis rate, fed blocks of any size.
//!
//! rubato works on fixed chunks; this adapter buffers arbitrary blocks into chunks, drops the
//! resampler's start-up delay so output sample `n` lines up with input time `n / rate_out`, and
//! flushes the tail at the end. After construction it never allocates as long as the caller's
//! output vectors have capacity.

use audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::error::{Error, Result};

/// Input frames per resampler call: about 64 ms at 16 kHz, a fraction of the cue latency budget.
const CHUNK: usize = 1024;

/// Converts planar audio from one rate to another, block by block.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    channels: usize,
    rate_in: u32,
    rate_out: u32,
    pending: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    /// A resampler for `channels` channels from `rate_in` to `rate_out` Hz (a pass-through when
    /// the rates are equal).
    pub fn new(rate_in: u32, rate_out: u32, channels: usize) -> Result<Self> {
        let inner = if rate_in == rate_out {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    rate_in as usize,
                    rate_out as usize,
                    CHUNK,
                    channels,
                    FixedSync::Input,
                )
                .map_err(|e| {
                    Error::Invalid(format!("cannot resample {rate_in} -> {rate_out} Hz: {e}"))
                })?,
            )
        };
        let (in_max, out_max, delay) = match &inner {
            Some(r) => (
                r.input_frames_max(),
                r.output_frames_max(),
                r.output_delay(),
            ),
            None => (0, 0, 0),
        };
        Ok(Self {
            inner,
            channels,
            rate_in,
            rate_out,
            pending: vec![Vec::with_capacity(in_max); channels],
            scratch: vec![vec![0.0; out_max]; channels],
            delay_left: delay,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Upper bound on the frames one call to [`process`](Self::process) appends per input frame
    /// block of `frames`, for sizing output buffers up front.
    pub fn max_output(&self, frames: usize) -> usize {
        let ratio = self.rate_out as f64 / self.rate_in as f64;
        (frames as f64 * ratio).ceil() as usize + self.scratch.first().map_or(0, Vec::len)
    }

    /// Resample the first `frames` frames of each `input` channel and append the result to `out`.
    pub fn process(&mut self, input: &[Vec<f32>], frames: usize, out: &mut [Vec<f32>]) {
        debug_assert_eq!(input.len(), self.channels);
        self.frames_in += frames as u64;
        let Some(rs) = self.inner.as_mut() else {
            for (o, i) in out.iter_mut().zip(input) {
                o.extend_from_slice(&i[..frames]);
            }
            self.frames_out += frames as u64;
            return;
        };
        let mut offset = 0;
        while offset < frames {
            let need = rs.input_frames_next() - self.pending[0].len();
            let take = need.min(frames - offset);
            for (p, i) in self.pending.iter_mut().zip(input) {
                p.extend_from_slice(&i[offset..offset + take]);
            }
            offset += take;
            if self.pending[0].len() == rs.input_frames_next() {
                Self::run_chunk(
                    rs,
                    &self.pending,
                    None,
                    &mut self.scratch,
                    &mut self.delay_left,
                    &mut self.frames_out,
                    out,
                );
                for p in &mut self.pending {
                    p.clear();
                }
            }
        }
    }

    /// Push the last buffered input through and append everything still owed to `out`, so that
    /// the output covers the whole input duration.
    pub fn flush(&mut self, out: &mut [Vec<f32>]) {
        let Some(rs) = self.inner.as_mut() else {
            return;
        };
        let expected =
            (self.frames_in as f64 * self.rate_out as f64 / self.rate_in as f64).round() as u64;
        let mut guard = 0;
        while self.frames_out < expected && guard < 64 {
            let partial = self.pending[0].len();
            let next = rs.input_frames_next();
            for p in &mut self.pending {
                p.resize(next, 0.0);
            }
            let before = self.frames_out;
            Self::run_chunk(
                rs,
                &self.pending,
                Some(partial),
                &mut self.scratch,
                &mut self.delay_left,
                &mut self.frames_out,
                out,
            );
            for p in &mut self.pending {
                p.clear();
            }
            // Trim anything produced beyond the input's duration (zero padding).
            if self.frames_out > expected {
                let extra = (self.frames_out - expected) as usize;
                for o in out.iter_mut() {
                    let n = o.len().saturating_sub(extra);
                    o.truncate(n);
                }
                self.frames_out = expected;
            }
            if self.frames_out == before && self.delay_left == 0 {
                break;
            }
            guard += 1;
        }
    }

    fn run_chunk(
        rs: &mut Fft<f32>,
        input: &[Vec<f32>],
        partial: Option<usize>,
        scratch: &mut [Vec<f32>],
        delay_left: &mut usize,
        frames_out: &mut u64,
        out: &mut [Vec<f32>],
    ) {
        let channels = input.len();
        let frames_in = input[0].len();
        let cap = scratch[0].len();
        let (Ok(inp), Ok(mut outp)) = (
            SequentialSliceOfVecs::new(input, channels, frames_in),
            SequentialSliceOfVecs::new_mut(scratch, channels, cap),
        ) else {
            return;
        };
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        // Sizes are fixed at construction, so rubato cannot fail here; a failure would only
        // lose one chunk, which is better than stopping a live call.
        let Ok((_, written)) = rs.process_into_buffer(&inp, &mut outp, Some(&indexing)) else {
            return;
        };
        let skip = (*delay_left).min(written);
        *delay_left -= skip;
        for (o, s) in out.iter_mut().zip(scratch.iter()) {
            o.extend_from_slice(&s[skip..written]);
        }
        *frames_out += (written - skip) as u64;
    }
}

/// Resample whole planar channels from `rate_in` to `rate_out` (a copy when they are equal).
pub fn resample_all(input: &[Vec<f32>], rate_in: u32, rate_out: u32) -> Result<Vec<Vec<f32>>> {
    let mut rs = StreamResampler::new(rate_in, rate_out, input.len())?;
    let frames = input.first().map_or(0, Vec::len);
    let mut out = vec![Vec::with_capacity(rs.max_output(frames)); input.len()];
    rs.process(input, frames, &mut out);
    rs.flush(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn eight_to_sixteen_keeps_length_and_timing() {
        let x = tone(8000, 440.0, 1.3);
        let mut rs = StreamResampler::new(8000, 16000, 1).unwrap();
        let mut out = vec![Vec::new()];
        // Odd block sizes, as a decoder would deliver them.
        for block in x.chunks(333) {
            rs.process(&[block.to_vec()], block.len(), &mut out);
        }
        rs.flush(&mut out);
        assert_eq!(out[0].len(), x.len() * 2);
        // Timing: compare with an ideal 16 kHz tone in the middle (no start-up delay left).
        let ideal = tone(16000, 440.0, 1.3);
        let err: f32 = out[0][4000..20000]
            .iter()
            .zip(&ideal[4000..20000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.02, "max error {err}");
    }
}
