//! The sound libraries' own logging, kept off the console.
//!
//! Listing ALSA devices opens every configured plugin. On a machine without a sound card or a
//! sound server, alsa-lib, its OSS and PulseAudio plugins and libjack (loaded by the JACK plugin)
//! each print their failures to stderr. Those lines are caught here instead (ALSA's per thread,
//! libjack's for the whole process), so calmline can say once, in its own words, what is
//! unavailable and why.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};
use std::rc::Rc;
use std::sync::{Mutex, Once};

thread_local! {
    static ALSA: RefCell<Option<Rc<RefCell<alsa::Output>>>> = const { RefCell::new(None) };
}

/// libjack's messages since the last [`take`] (bounded: a retry loop must not grow it).
static JACK: Mutex<Vec<String>> = Mutex::new(Vec::new());
const KEEP: usize = 64;

/// Catch ALSA's messages on this thread from now on, and libjack's in the whole process.
pub fn install() {
    jack_once();
    ALSA.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_none() {
            *a = alsa::Output::local_error_handler().ok();
        }
    });
}

/// The messages caught since the last call: ALSA's on this thread, libjack's from anywhere.
pub fn take() -> Vec<String> {
    let mut out = Vec::new();
    ALSA.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(buf) = a.as_ref() {
            let text = buf.borrow().to_string();
            out.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from),
            );
            // A new buffer empties the old one (alsa's documented way).
            *a = alsa::Output::local_error_handler().ok();
        }
    });
    out.append(&mut JACK.lock().unwrap_or_else(|p| p.into_inner()));
    out
}

/// libjack prints through callbacks it lets a program replace; set ours before the ALSA JACK
/// plugin loads the library (it then finds it loaded, with our callbacks).
fn jack_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the symbols' C types are
        // `void jack_set_error_function(void (*)(const char *))` (and the same for info), which
        // the transmuted type matches. The handle is never closed, so the callbacks stay valid.
        unsafe {
            let lib = libc::dlopen(
                c"libjack.so.0".as_ptr(),
                libc::RTLD_LAZY | libc::RTLD_GLOBAL,
            );
            if lib.is_null() {
                return; // No libjack: nothing of JACK's will print.
            }
            for name in [c"jack_set_error_function", c"jack_set_info_function"] {
                let f = libc::dlsym(lib, name.as_ptr());
                if !f.is_null() {
                    let set: extern "C" fn(extern "C" fn(*const c_char)) = std::mem::transmute(f);
                    set(on_jack);
                }
            }
        }
    });
}

extern "C" fn on_jack(msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: libjack passes a NUL-terminated message valid for the call.
    let s = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    let mut j = JACK.lock().unwrap_or_else(|p| p.into_inner());
    if j.len() < KEEP {
        j.push(s);
    }
}

/// Why a device or host failed, in calmline's words, from the libraries' messages (or `None`
/// when they say nothing recognisable).
pub fn reason(messages: &[String]) -> Option<&'static str> {
    let has = |s: &str| messages.iter().any(|m| m.contains(s));
    if has("jack server is not running") || has("Cannot connect to server") {
        Some("no JACK server is running")
    } else if has("/dev/dsp") {
        Some("no OSS device (/dev/dsp)")
    } else if has("PulseAudio: Unable to connect") {
        Some("no PulseAudio server to connect to")
    } else if has("Cannot get card index") || has("Unknown PCM") {
        Some("no sound card")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_missing_part() {
        let m = |s: &str| vec![s.to_string()];
        assert_eq!(
            reason(&m(
                "Cannot connect to server socket err = No such file or directory"
            )),
            Some("no JACK server is running")
        );
        assert_eq!(
            reason(&m("_snd_pcm_oss_open: Cannot open device /dev/dsp")),
            Some("no OSS device (/dev/dsp)")
        );
        assert_eq!(
            reason(&m(
                "pulse_connect: PulseAudio: Unable to connect: Connection refused"
            )),
            Some("no PulseAudio server to connect to")
        );
        assert_eq!(reason(&m("something else")), None);
    }

    #[test]
    fn alsa_messages_are_caught_not_printed() {
        install();
        let _ = take();
        // Opening a PCM that does not exist makes alsa-lib report through its error handler.
        assert!(alsa::PCM::new("calmline_no_such_pcm", alsa::Direction::Capture, true).is_err());
        let got = take();
        assert!(
            got.iter().any(|m| m.contains("calmline_no_such_pcm")),
            "caught: {got:?}"
        );
        assert!(take().iter().all(|m| !m.contains("calmline_no_such_pcm")));
    }
}
