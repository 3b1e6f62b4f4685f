//! Text output written by a thread of its own.
//!
//! `--ui json` and `--ui plain` write to whatever reads the monitor's output: a script, a pipe,
//! a terminal. If that reader stops reading, a pipe fills and a write blocks; written from the
//! analysis thread, that would stop the analysis, the coaching and the hub's alerts with it.
//! Lines therefore go through a bounded queue to a writer thread, and when the queue is full
//! they are dropped and counted, like samples the analysis cannot keep up with.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Lines waiting for a slow reader at most (about a minute of `--ui json` events).
pub const QUEUE_LINES: usize = 8192;

/// A handle to the writer thread; clones write to the same output, in order of sending.
#[derive(Clone)]
pub struct Lines {
    tx: Sender<String>,
    dropped: Arc<AtomicU64>,
}

/// The writer thread, to wait for at the end.
pub struct Writer {
    done: Receiver<()>,
    dropped: Arc<AtomicU64>,
}

/// How the output ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    /// Lines dropped because the queue was full (the reader was not keeping up).
    pub dropped: u64,
    /// Whether every queued line was written before the wait ran out.
    pub complete: bool,
}

impl Lines {
    /// Start a writer thread for `out`, with room for `capacity` lines.
    pub fn start<W: Write + Send + 'static>(out: W, capacity: usize) -> (Lines, Writer) {
        let (tx, rx) = crossbeam_channel::bounded::<String>(capacity.max(1));
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        // Without a thread the receiver is gone, and every line counts as dropped.
        let _ = std::thread::Builder::new()
            .name("ui-lines".into())
            .spawn(move || {
                write_all(out, &rx, &lost);
                let _ = done_tx.send(());
            });
        (
            Lines {
                tx,
                dropped: dropped.clone(),
            },
            Writer { done, dropped },
        )
    }

    /// Queue one line (without its newline); never blocks.
    pub fn send(&self, line: String) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Writer {
    /// Wait, up to `wait`, for every queued line to be written. Every [`Lines`] handle must be
    /// dropped first, or this waits the whole time.
    pub fn finish(self, wait: Duration) -> Written {
        let complete = self.done.recv_timeout(wait).is_ok();
        Written {
            dropped: self.dropped.load(Ordering::Relaxed),
            complete,
        }
    }
}

fn write_all<W: Write>(mut out: W, rx: &Receiver<String>, dropped: &AtomicU64) {
    let mut broken = false;
    for mut line in rx.iter() {
        if broken {
            // The reader is gone (a closed pipe): keep draining so senders never fill up.
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        line.push('\n');
        // One write per line, so a pipe reader never sees half of one (up to PIPE_BUF).
        let ok = out.write_all(line.as_bytes()).is_ok() && (!rx.is_empty() || out.flush().is_ok());
        if !ok {
            broken = true;
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An output that blocks until told to go on, like a pipe nobody reads.
    struct Stuck(Arc<Mutex<Vec<u8>>>, Receiver<()>);

    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let _ = self.1.recv();
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reader_that_stops_never_blocks_the_sender_and_drops_are_counted() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (go, wait) = crossbeam_channel::unbounded();
        let (lines, writer) = Lines::start(Stuck(got.clone(), wait), 4);
        // The writer takes one line and blocks in it; four wait; the rest are dropped at once.
        for i in 0..100 {
            lines.send(format!("line {i}"));
        }
        assert!(lines.dropped() >= 95, "{}", lines.dropped());
        drop(lines);
        // Still stuck: the wait runs out and says so.
        let w = writer.finish(Duration::from_millis(50));
        assert!(!w.complete);
        assert!(w.dropped >= 95);
        for _ in 0..10 {
            go.send(()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("line 0\nline 1\n"), "{text}");
        assert_eq!(text.lines().count() as u64 + w.dropped, 100, "{text}");
    }

    #[test]
    fn every_line_is_written_in_order_when_the_reader_keeps_up() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (lines, writer) = Lines::start(Shared(buf.clone()), 16);
        let other = lines.clone();
        for i in 0..10 {
            lines.send(format!("{i}"));
            // Space for the writer, so nothing is dropped.
            std::thread::sleep(Duration::from_millis(1));
        }
        other.send("end".into());
        drop((lines, other));
        let w = writer.finish(Duration::from_secs(5));
        assert_eq!(
            w,
            Written {
                dropped: 0,
                complete: true
            }
        );
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\nend\n");
    }
}
