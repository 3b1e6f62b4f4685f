//! Capture from a sound device: the callback only converts samples to f32 and pushes them into a
//! lock-free ring (rtrb). No allocation, no lock, no I/O in the callback; when the ring is full
//! the samples are counted as dropped, never waited for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample};
use rtrb::{Consumer, Producer, RingBuffer};

use crate::error::{Error, Result};

/// Counters shared between the callback and the analysis thread.
#[derive(Debug, Default)]
pub struct Health {
    /// Samples dropped because the ring was full (the analysis thread fell behind).
    pub dropped: AtomicU64,
    /// Samples delivered by the device.
    pub captured: AtomicU64,
    /// The device reported an error that stopped the stream (unplugged, server gone).
    pub lost: AtomicBool,
    /// How long the latest period waited in the device and sound server before the callback
    /// (microseconds, as the host reports it; 0 when it does not).
    pub delay_us: AtomicU64,
}

/// The callback side: converts and pushes. Separate from cpal so it can be tested (and its
/// allocations counted) without a device.
pub struct Pusher {
    ring: Producer<f32>,
    health: Arc<Health>,
}

impl Pusher {
    /// Record the host's delay of the period being pushed.
    #[inline]
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.health
            .delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// Push interleaved samples; what does not fit is dropped and counted.
    #[inline]
    pub fn push<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let free = self.ring.slots();
        let n = data.len().min(free);
        if let Ok(mut chunk) = self.ring.write_chunk_uninit(n) {
            let (a, b) = chunk.as_mut_slices();
            let (da, db) = data[..n].split_at(a.len());
            for (slot, s) in a.iter_mut().zip(da) {
                slot.write(f32::from_sample(*s));
            }
            for (slot, s) in b.iter_mut().zip(db) {
                slot.write(f32::from_sample(*s));
            }
            // SAFETY: every slot of both slices was written above.
            unsafe { chunk.commit_all() };
        }
        self.health
            .captured
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if n < data.len() {
            self.health
                .dropped
                .fetch_add((data.len() - n) as u64, Ordering::Relaxed);
        }
    }
}

/// A ring of `seconds` of audio for `channels` at `rate`, as (callback side, analysis side).
pub fn ring(rate: u32, channels: usize, seconds: f32) -> (Pusher, Consumer<f32>, Arc<Health>) {
    let (p, c) = RingBuffer::new((rate as f32 * seconds) as usize * channels.max(1));
    let health = Arc::new(Health::default());
    (
        Pusher {
            ring: p,
            health: health.clone(),
        },
        c,
        health,
    )
}

/// What keeps a capture running; dropping it stops capture.
#[expect(dead_code, reason = "held only to be dropped")]
enum Stream {
    /// A cpal stream (its callback pushes).
    Cpal(cpal::Stream),
    /// A PulseAudio source read through ALSA's pulse plugin by our own thread.
    Pulse(super::pulse::Reader),
}

/// A running capture stream.
pub struct Capture {
    /// Keeps the stream alive; dropping it stops capture.
    _stream: Stream,
    /// The analysis side of the ring (interleaved samples).
    pub ring: Consumer<f32>,
    /// Counters and the lost flag.
    pub health: Arc<Health>,
    /// Device sample rate.
    pub rate: u32,
    /// Device channels.
    pub channels: usize,
    /// Device name.
    pub name: String,
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut pusher: Pusher,
    health: Arc<Health>,
) -> Result<cpal::Stream>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    device
        .build_input_stream::<T, _, _>(
            config,
            move |data: &[T], info: &cpal::InputCallbackInfo| {
                let ts = info.timestamp();
                pusher.set_delay(ts.callback.duration_since(ts.capture));
                pusher.push(data)
            },
            move |err: cpal::Error| {
                use cpal::ErrorKind as K;
                // Xruns and reroutes are survivable; anything else means the stream is gone.
                if !matches!(err.kind(), K::Xrun | K::DeviceChanged | K::RealtimeDenied) {
                    health.lost.store(true, Ordering::Relaxed);
                }
            },
            None,
        )
        .map_err(|e| Error::Invalid(format!("cannot open the input stream: {e}")))
}

impl Capture {
    /// Start capturing `found` (see [`super::devices::find`]) with its default input
    /// configuration, in periods of `period_ms`, into a ring of two seconds.
    ///
    /// A PulseAudio source is read through ALSA's pulse plugin (see [`super::pulse`]) when the
    /// plugin opens it, and through cpal's PulseAudio host otherwise.
    pub fn open(found: &super::devices::Found, period_ms: u32) -> Result<Self> {
        if let Some(source) = &found.pulse_source
            && let Ok(supported) = found.device.default_input_config()
        {
            let rate = supported.sample_rate();
            let channels = supported.channels() as usize;
            let (pusher, consumer, health) = ring(rate, channels, 2.0);
            if let Ok(reader) =
                super::pulse::start(source, channels, rate, period_ms, pusher, health.clone())
            {
                return Ok(Self {
                    _stream: Stream::Pulse(reader),
                    ring: consumer,
                    health,
                    rate,
                    channels,
                    name: found.name.clone(),
                });
            }
        }
        Self::start(&found.device, &found.name, period_ms)
    }

    /// Start capturing from `device` with its default input configuration, in periods of
    /// `period_ms`, into a ring of two seconds.
    pub fn start(device: &cpal::Device, name: &str, period_ms: u32) -> Result<Self> {
        let supported = device
            .default_input_config()
            .map_err(|e| Error::Invalid(format!("{name}: no input configuration: {e}")))?;
        let rate = supported.sample_rate();
        let channels = supported.channels() as usize;
        let format = supported.sample_format();
        // Ask for short periods: PulseAudio defaults to seconds of buffering for recording,
        // which would delay every cue by as much. (cpal's PulseAudio host sizes the server
        // buffer to one period, so too short a period loses audio on a busy machine.)
        let want = (rate as u64 * period_ms as u64 / 1000).max(1) as u32;
        let buffer_size = match supported.buffer_size() {
            cpal::SupportedBufferSize::Range { min, max } => {
                cpal::BufferSize::Fixed(want.clamp(*min, *max))
            }
            _ => cpal::BufferSize::Fixed(want),
        };
        let mut config: cpal::StreamConfig = supported.into();
        config.buffer_size = buffer_size;
        let (pusher, consumer, health) = ring(rate, channels, 2.0);
        let h = health.clone();
        let stream = match format {
            SampleFormat::F32 => build::<f32>(device, config, pusher, h),
            SampleFormat::I16 => build::<i16>(device, config, pusher, h),
            SampleFormat::I32 => build::<i32>(device, config, pusher, h),
            SampleFormat::U16 => build::<u16>(device, config, pusher, h),
            SampleFormat::U8 => build::<u8>(device, config, pusher, h),
            SampleFormat::I8 => build::<i8>(device, config, pusher, h),
            SampleFormat::F64 => build::<f64>(device, config, pusher, h),
            other => Err(Error::Invalid(format!(
                "{name}: sample format {other} not supported"
            ))),
        }?;
        stream
            .play()
            .map_err(|e| Error::Invalid(format!("{name}: cannot start capture: {e}")))?;
        Ok(Self {
            _stream: Stream::Cpal(stream),
            ring: consumer,
            health,
            rate,
            channels,
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_counted_not_waited_for() {
        let (mut p, mut c, h) = ring(1000, 1, 0.1); // 100 slots
        p.push(&[0.5f32; 60]);
        p.push(&[0.25f32; 60]);
        assert_eq!(h.captured.load(Ordering::Relaxed), 120);
        assert_eq!(h.dropped.load(Ordering::Relaxed), 20);
        let got: Vec<f32> = std::iter::from_fn(|| c.pop().ok()).collect();
        assert_eq!(got.len(), 100);
        assert_eq!(got[59], 0.5);
        assert_eq!(got[60], 0.25);
        // Integer formats are converted on the way in.
        p.push(&[i16::MAX, i16::MIN]);
        assert!((c.pop().unwrap() - 1.0).abs() < 1e-4 && (c.pop().unwrap() + 1.0).abs() < 1e-4);
    }
}
