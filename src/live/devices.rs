//! Sound devices: listing (`calmline devices`) and choosing by name or index.

use cpal::traits::{DeviceTrait, HostTrait};

use crate::error::{Error, Result};

/// One capturable device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Host (PulseAudio, ALSA, ...).
    pub host: String,
    /// Position in the host's list (for `--device 3`).
    pub index: usize,
    /// Name used to select it.
    pub name: String,
    /// Default input channels.
    pub channels: u16,
    /// Default input rate.
    pub rate: u32,
    /// Other rates it accepts (min-max per supported configuration).
    pub rates: Vec<(u32, u32)>,
    /// The host's default input.
    pub default: bool,
    /// A monitor of an output (what the other side says, on a softphone's output).
    pub monitor: bool,
}

/// Something that cannot be captured from, and why (in calmline's words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// A host (`PulseAudio`) or a device (`alsa:jack`), or `sound cards`.
    pub what: String,
    /// Why.
    pub why: String,
}

/// Every input device, and what could not be used.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Capturable devices, preferred host first.
    pub devices: Vec<DeviceInfo>,
    /// Hosts and devices that failed, once each.
    pub unavailable: Vec<Unavailable>,
}

/// Hosts in order of preference: PulseAudio (sees monitors of outputs) before ALSA; and those
/// that could not be started.
fn hosts() -> (Vec<cpal::Host>, Vec<Unavailable>) {
    super::quiet::install();
    let mut ids = cpal::ALL_HOSTS.to_vec();
    ids.sort_by_key(|h| {
        if h.name().eq_ignore_ascii_case("pulseaudio") {
            0
        } else {
            1
        }
    });
    let mut hosts = Vec::new();
    let mut unavailable = Vec::new();
    for id in ids {
        match cpal::host_from_id(id) {
            Ok(h) => hosts.push(h),
            Err(e) => {
                let text = e.to_string();
                let why = if id.name().eq_ignore_ascii_case("pulseaudio") {
                    "no PulseAudio server is running".to_string()
                } else {
                    text
                };
                unavailable.push(Unavailable {
                    what: id.name().to_string(),
                    why,
                });
            }
        }
    }
    (hosts, unavailable)
}

/// Turn the libraries' messages caught while probing `what` into one entry, if they explain it.
fn note(what: &str, out: &mut Vec<Unavailable>) {
    let messages = super::quiet::take();
    if let Some(why) = super::quiet::reason(&messages) {
        // A missing card shows up under every device that refers to it: say it once.
        let (what, why) = if why == "no sound card" {
            ("sound cards", "none found")
        } else {
            (what, why)
        };
        if !out.iter().any(|u| u.what == what) {
            out.push(Unavailable {
                what: what.to_string(),
                why: why.to_string(),
            });
        }
    }
}

/// One line for what is unavailable, e.g. for an error message.
pub fn summary(unavailable: &[Unavailable]) -> String {
    unavailable
        .iter()
        .map(|u| format!("{}: {}", u.what, u.why))
        .collect::<Vec<_>>()
        .join("; ")
}

fn device_name(d: &cpal::Device) -> String {
    d.id()
        .map(|id| id.to_string())
        .or_else(|_| d.description().map(|x| x.name().to_string()))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every input-capable device of every host.
///
/// The sound libraries' own messages are kept off the console: what they say about a device
/// that failed becomes an [`Unavailable`] entry.
pub fn list() -> Listing {
    let mut out = Vec::new();
    let (hosts, mut unavailable) = hosts();
    for host in hosts {
        let hname = host.id().name().to_string();
        let default = host.default_input_device().map(|d| device_name(&d));
        note(&hname, &mut unavailable);
        let Ok(devices) = host.devices() else {
            continue;
        };
        for (index, d) in devices.enumerate() {
            let name = device_name(&d);
            let Ok(cfg) = d.default_input_config() else {
                note(&name, &mut unavailable);
                continue;
            };
            // The overall range of the supported configurations (ALSA lists hundreds).
            let rates: Vec<(u32, u32)> = d
                .supported_input_configs()
                .map(|it| {
                    it.map(|c| (c.min_sample_rate(), c.max_sample_rate()))
                        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
                        .into_iter()
                        .collect()
                })
                .unwrap_or_default();
            // A device that opened may still have made a plugin complain (a failed probe of
            // one configuration): forget that.
            let _ = super::quiet::take();
            out.push(DeviceInfo {
                host: hname.clone(),
                index,
                monitor: name.ends_with(".monitor") || name.to_lowercase().contains("monitor"),
                default: default.as_deref() == Some(name.as_str()),
                name,
                channels: cfg.channels(),
                rate: cfg.sample_rate(),
                rates,
            });
        }
    }
    Listing {
        devices: out,
        unavailable,
    }
}

/// A device to capture from.
pub struct Found {
    /// The cpal device (for a PulseAudio source: the PulseAudio host's, which gives its format).
    pub device: cpal::Device,
    /// Its name, to report and to reopen it by.
    pub name: String,
    /// For a PulseAudio source: its name, to open through ALSA's pulse plugin (see
    /// [`super::pulse`]).
    pub pulse_source: Option<String>,
}

/// Find an input device (see [`find_raw`]).
pub fn find(which: Option<&str>) -> Result<Found> {
    let (device, name) = find_raw(which)?;
    let pulse_source = name.strip_prefix("pulseaudio:").map(String::from);
    Ok(Found {
        device,
        name,
        pulse_source,
    })
}

/// Find an input device: `None` is the default input of the preferred host; a number is an
/// index in `calmline devices`; otherwise the first device whose name contains the text
/// (exact matches first).
///
/// The sound libraries' messages are kept off the console; when nothing matches, the error says
/// what was unavailable and why.
pub fn find_raw(which: Option<&str>) -> Result<(cpal::Device, String)> {
    let (hosts, mut unavailable) = hosts();
    let found = find_in(&hosts, which, &mut unavailable);
    let _ = super::quiet::take();
    found.map_err(|e| match e {
        Error::Invalid(m) if !unavailable.is_empty() => {
            Error::Invalid(format!("{m} (unavailable: {})", summary(&unavailable)))
        }
        e => e,
    })
}

fn find_in(
    hosts: &[cpal::Host],
    which: Option<&str>,
    unavailable: &mut Vec<Unavailable>,
) -> Result<(cpal::Device, String)> {
    if hosts.is_empty() {
        return Err(Error::Invalid(
            "no audio host is available (no PulseAudio, no ALSA)".into(),
        ));
    }
    match which {
        None => {
            for h in hosts {
                if let Some(d) = h.default_input_device() {
                    let n = device_name(&d);
                    return Ok((d, n));
                }
            }
            Err(Error::Invalid(
                "no default input device: choose one with --device (see `calmline devices`)".into(),
            ))
        }
        Some(w) => {
            let index: Option<usize> = w.parse().ok();
            let mut contains = None;
            for h in hosts {
                let Ok(devices) = h.devices() else { continue };
                for (i, d) in devices.enumerate() {
                    let n = device_name(&d);
                    if d.default_input_config().is_err() {
                        note(&n, unavailable);
                        continue;
                    }
                    if index == Some(i) || n == w {
                        return Ok((d, n));
                    }
                    if contains.is_none() && n.contains(w) {
                        contains = Some((d, n));
                    }
                }
                if index.is_some() {
                    break;
                }
            }
            contains.ok_or_else(|| {
                Error::Invalid(format!(
                    "no input device matches {w:?}: see `calmline devices` for names and numbers"
                ))
            })
        }
    }
}
