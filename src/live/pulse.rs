//! One PulseAudio source, captured through ALSA's `pulse` plugin and opened by name.
//!
//! cpal's own PulseAudio host keeps a single period of buffering in the server and loses audio
//! whenever the machine is busy (measured: half the audio with transcription and another call on
//! a 2-core machine); the ALSA plugin keeps several. cpal opens only the ALSA devices it lists,
//! and the listed `pulse` device records the default source, so this module opens
//! `pulse:DEVICE="<source>"` itself with alsa-lib: the source is chosen without touching the
//! process environment (setting `PULSE_SOURCE` while other threads run is undefined behaviour
//! with glibc's `getenv`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alsa::pcm::{Access, Format, HwParams};
use alsa::{Direction, PCM, ValueOr};

use super::capture::{Health, Pusher};
use crate::error::{Error, Result};

/// The reading thread of one open source; dropping it stops the thread (it is not waited for:
/// a sound server that hangs must not hang the analysis thread).
pub struct Reader {
    stop: Arc<AtomicBool>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The ALSA device string selecting `source` on the `pulse` plugin.
pub fn pcm_id(source: &str) -> Result<String> {
    if source.is_empty() || source.contains(['"', '\\', '\n']) {
        return Err(Error::Invalid(format!(
            "PulseAudio source name {source:?} cannot be passed to ALSA's pulse plugin"
        )));
    }
    Ok(format!("pulse:DEVICE=\"{source}\""))
}

fn open(id: &str, channels: usize, rate: u32, period: usize) -> alsa::Result<PCM> {
    // Non-blocking with a bounded wait, so the thread notices `stop` even when no audio comes.
    let pcm = PCM::new(id, Direction::Capture, true)?;
    {
        let hw = HwParams::any(&pcm)?;
        hw.set_access(Access::RWInterleaved)?;
        hw.set_format(Format::float())?;
        hw.set_channels(channels as u32)?;
        hw.set_rate(rate, ValueOr::Nearest)?;
        hw.set_period_size_near(period as alsa::pcm::Frames, ValueOr::Nearest)?;
        // Several periods in the server: a busy machine reads late, not never.
        hw.set_buffer_size_near((period * 16) as alsa::pcm::Frames)?;
        pcm.hw_params(&hw)?;
    }
    pcm.start()?;
    Ok(pcm)
}

/// Start reading `source` (`channels` at `rate`, in periods of `period_ms`) into `pusher`.
/// Returns once the source is open, or with the reason it could not be.
pub fn start(
    source: &str,
    channels: usize,
    rate: u32,
    period_ms: u32,
    mut pusher: Pusher,
    health: Arc<Health>,
) -> Result<Reader> {
    let id = pcm_id(source)?;
    let period = (rate as usize * period_ms as usize / 1000).max(32);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let stopped = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            super::quiet::install();
            let pcm = match open(&id, channels, rate, period) {
                Ok(p) => {
                    let _ = tx.send(Ok(()));
                    p
                }
                Err(e) => {
                    let why = super::quiet::reason(&super::quiet::take())
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    let _ = tx.send(Err(format!("{e}{why}")));
                    return;
                }
            };
            let Ok(io) = pcm.io_f32() else {
                health.lost.store(true, Ordering::Relaxed);
                return;
            };
            let mut buf = vec![0f32; period * channels];
            while !stopped.load(Ordering::Relaxed) {
                match io.readi(&mut buf) {
                    Ok(n) => {
                        // How long the oldest sample just read waited: what is still queued
                        // behind it plus the period itself.
                        if let Ok(d) = pcm.delay() {
                            pusher.set_delay(Duration::from_secs_f64(
                                (d.max(0) as usize + n) as f64 / rate as f64,
                            ));
                        }
                        pusher.push(&buf[..n * channels]);
                    }
                    Err(e) if e.errno() == libc::EAGAIN => {
                        let _ = pcm.wait(Some(100));
                    }
                    Err(e) => {
                        // An overrun is recovered from; a server gone is a lost device.
                        if pcm.try_recover(e, true).is_err() {
                            health.lost.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }
        })
        .map_err(|e| Error::Invalid(format!("cannot start the capture thread: {e}")))?;
    drop(spawned);
    match rx.recv() {
        Ok(Ok(())) => Ok(Reader { stop }),
        Ok(Err(e)) => Err(Error::Invalid(format!(
            "cannot open PulseAudio source {source} through ALSA: {e}"
        ))),
        Err(_) => Err(Error::Invalid(format!(
            "cannot open PulseAudio source {source} through ALSA: the capture thread ended"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_quoted_and_unsafe_ones_refused() {
        assert_eq!(
            pcm_id("calmline_customer.monitor").unwrap(),
            "pulse:DEVICE=\"calmline_customer.monitor\""
        );
        assert!(pcm_id("a\"b").is_err());
        assert!(pcm_id("").is_err());
    }
}
