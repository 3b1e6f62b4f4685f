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

/// Hosts in order of preference: PulseAudio (sees monitors of outputs) before ALSA.
fn hosts() -> Vec<cpal::Host> {
    let mut ids = cpal::available_hosts();
    ids.sort_by_key(|h| {
        if h.name().eq_ignore_ascii_case("pulseaudio") {
            0
        } else {
            1
        }
    });
    ids.into_iter()
        .filter_map(|id| cpal::host_from_id(id).ok())
        .collect()
}

fn device_name(d: &cpal::Device) -> String {
    d.id()
        .map(|id| id.to_string())
        .or_else(|_| d.description().map(|x| x.name().to_string()))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every input-capable device of every host.
pub fn list() -> Vec<DeviceInfo> {
    let mut out = Vec::new();
    for host in hosts() {
        let hname = host.id().name().to_string();
        let default = host.default_input_device().map(|d| device_name(&d));
        let Ok(devices) = host.devices() else {
            continue;
        };
        for (index, d) in devices.enumerate() {
            let Ok(cfg) = d.default_input_config() else {
                continue;
            };
            let name = device_name(&d);
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
    out
}

/// A device to capture from.
pub struct Found {
    /// The cpal device to open.
    pub device: cpal::Device,
    /// Its name, to report and to reopen it by.
    pub name: String,
    /// For a PulseAudio source captured through ALSA's `pulse` device: the source to select.
    pub pulse_source: Option<String>,
}

/// Find an input device (see [`find_raw`]). A PulseAudio source is captured through ALSA's
/// `pulse` device when there is one: cpal's own PulseAudio host keeps a single period of
/// buffering in the server and loses audio whenever the machine is busy (measured: half the
/// audio with transcription and another call on a 2-core machine), while the ALSA plugin keeps
/// several.
pub fn find(which: Option<&str>) -> Result<Found> {
    let (device, name) = find_raw(which)?;
    if let Some(source) = name.strip_prefix("pulseaudio:") {
        let alsa_pulse = hosts()
            .into_iter()
            .filter(|h| h.id().name().eq_ignore_ascii_case("alsa"))
            .filter_map(|h| h.devices().ok())
            .flatten()
            .find(|d| device_name(d) == "alsa:pulse");
        if let Some(d) = alsa_pulse {
            return Ok(Found {
                device: d,
                pulse_source: Some(source.to_string()),
                name,
            });
        }
    }
    Ok(Found {
        device,
        name,
        pulse_source: None,
    })
}

/// Find an input device: `None` is the default input of the preferred host; a number is an
/// index in `calmline devices`; otherwise the first device whose name contains the text
/// (exact matches first).
pub fn find_raw(which: Option<&str>) -> Result<(cpal::Device, String)> {
    let hosts = hosts();
    if hosts.is_empty() {
        return Err(Error::Invalid(
            "no audio host is available (no PulseAudio, no ALSA)".into(),
        ));
    }
    match which {
        None => {
            for h in &hosts {
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
            for h in &hosts {
                let Ok(devices) = h.devices() else { continue };
                for (i, d) in devices.enumerate() {
                    if d.default_input_config().is_err() {
                        continue;
                    }
                    let n = device_name(&d);
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
