//! `calmline devices` and `calmline live`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use super::{LiveArgs, Ui, resolve_config};
use crate::config::locate;
use crate::live::{self, EventSink, Layout, LiveOptions, devices};
use crate::review::{ReviewOptions, review_file_with};
use crate::transcribe::Model;

pub(super) fn devices() -> anyhow::Result<ExitCode> {
    let listing = devices::list();
    if listing.devices.is_empty() {
        println!("no input devices found (is PulseAudio or ALSA running?)");
    }
    let mut host = String::new();
    for d in listing.devices {
        if d.host != host {
            host = d.host.clone();
            println!("{host}:");
        }
        let rates: Vec<String> = d
            .rates
            .iter()
            .map(|(a, b)| {
                if a == b {
                    format!("{a}")
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        println!(
            "  {:>2}  {:<40} {} ch, {} Hz (accepts {} Hz){}{}",
            d.index,
            d.name,
            d.channels,
            d.rate,
            rates.join(", "),
            if d.monitor {
                "  [monitor of an output]"
            } else {
                ""
            },
            if d.default { "  [default]" } else { "" }
        );
    }
    if !listing.unavailable.is_empty() {
        println!("not available:");
        for u in &listing.unavailable {
            println!("  {:<12} {}", u.what, u.why);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Wait a little for the text view's last lines; say if the reader did not keep up.
fn finish_output(writer: Option<crate::ui::Writer>) {
    let Some(w) = writer else { return };
    let w = w.finish(std::time::Duration::from_secs(2));
    if w.dropped > 0 || !w.complete {
        eprintln!(
            "calmline: the output was not read fast enough: {} line(s) dropped{}; the call itself was analysed in full",
            w.dropped,
            if w.complete {
                ""
            } else {
                ", and the last ones are still unwritten"
            }
        );
    }
}

/// The chosen view, plus the hub connection when there is one: the live loop knows neither.
struct ToHub {
    view: Box<dyn EventSink>,
    uplink: Option<crate::uplink::Uplink>,
}

impl EventSink for ToHub {
    fn event(&mut self, e: &crate::events::Event) {
        self.view.event(e);
        if let Some(u) = self.uplink.as_mut() {
            u.event(e);
        }
    }
    fn tick(&mut self) {
        self.view.tick();
    }
    fn wants_stop(&self) -> bool {
        self.view.wants_stop()
    }
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub(super) fn run(args: LiveArgs) -> anyhow::Result<ExitCode> {
    if args.remember && args.device.is_none() && args.agent_device.is_none() {
        anyhow::bail!(
            "--remember needs the devices to remember: --device, or --agent-device and --customer-device"
        );
    }
    let mut cfg = resolve_config(args.config.as_ref(), args.customer_channel.as_deref())?;
    if let Some(m) = &args.model {
        cfg.transcribe.model = m.clone();
    }
    // Flags first, then the devices remembered in the config, then the default input.
    let layout = match (&args.device, &args.agent_device, &args.customer_device) {
        _ if args.file.is_some() => Layout::File {
            path: args.file.clone().unwrap_or_default(),
            customer: cfg.channels.customer,
            speed: args.speed,
        },
        (Some(d), _, _) => Layout::Stereo {
            device: Some(d.clone()),
            customer: cfg.channels.customer,
        },
        (None, Some(a), Some(c)) => Layout::TwoDevices {
            agent: Some(a.clone()),
            customer: Some(c.clone()),
        },
        _ => match (
            nonempty(&cfg.live.agent_device),
            nonempty(&cfg.live.customer_device),
        ) {
            (Some(a), Some(c)) => Layout::TwoDevices {
                agent: Some(a),
                customer: Some(c),
            },
            _ => Layout::Stereo {
                device: nonempty(&cfg.live.device),
                customer: cfg.channels.customer,
            },
        },
    };
    let model = if args.no_transcribe {
        None
    } else {
        Some(Model::load(&locate(&cfg.transcribe.model))?)
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::Relaxed))
            .context("cannot install the Ctrl-C handler")?;
    }
    let ui = args.ui.unwrap_or(if std::io::stdout().is_terminal() {
        Ui::Tui
    } else {
        Ui::Json
    });
    // The hub connection starts before the view, so a bad setting fails before the call.
    let hub_url = args
        .hub
        .clone()
        .or_else(|| nonempty(&cfg.hub.url))
        .map(|u| u.trim_end_matches('/').to_string());
    let nats_url = args
        .nats
        .clone()
        .or_else(|| nonempty(&cfg.nats.url).filter(|_| hub_url.is_none()));
    let agent = args
        .agent
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "agent".into());
    let outbox = crate::config::data_path(&cfg.hub.outbox, "outbox");
    let options = |url: String, token: String, nats| crate::uplink::UplinkOptions {
        url,
        token,
        agent: agent.clone(),
        outbox: outbox.clone(),
        share_agent_metrics: cfg.alerts.share_agent_metrics,
        level_interval_s: cfg.hub.level_interval_s,
        ca: nonempty(&cfg.hub.ca).map(std::path::PathBuf::from),
        nats,
    };
    let uplink = match (&hub_url, &nats_url) {
        (Some(url), _) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("--hub {url:?}: expected a URL such as http://hub.example:7878");
            }
            let token = args
                .token
                .clone()
                .or_else(|| std::env::var("CALMLINE_HUB_TOKEN").ok())
                .filter(|t| !t.trim().is_empty())
                .context("--hub needs the station's --token (or CALMLINE_HUB_TOKEN); an admin creates one with `calmline hub token add NAME`")?;
            Some(crate::uplink::Uplink::start(options(
                url.clone(),
                token,
                None,
            ))?)
        }
        (None, Some(url)) => {
            let site = args
                .site
                .clone()
                .or_else(|| nonempty(&cfg.nats.site))
                .context("--nats needs this station's --site (or [nats] site)")?;
            let station = args
                .station
                .clone()
                .or_else(|| nonempty(&cfg.nats.station))
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|h| h.trim().to_string())
                })
                .filter(|s| !s.is_empty())
                .context("--nats needs this station's --station name (or [nats] station)")?;
            let target = crate::uplink::nats::NatsTarget {
                url: url.clone(),
                site,
                station,
                auth: super::hub::nats_auth(&args.sign_in, &cfg)?,
            };
            Some(crate::uplink::Uplink::start(options(
                url.clone(),
                String::new(),
                Some(target),
            ))?)
        }
        (None, None) => None,
    };
    let hub_url = hub_url.or(nats_url);
    // Text views write from a thread of their own: a reader that stops reading must not stop
    // the call's analysis (nor the hub's alerts with it).
    let (lines, writer) = match ui {
        Ui::Tui => (None, None),
        _ => {
            let (l, w) = crate::ui::Lines::start(std::io::stdout(), crate::ui::QUEUE_LINES);
            (Some(l), Some(w))
        }
    };
    let view: Box<dyn EventSink> = match (ui, lines.clone()) {
        (Ui::Json, Some(l)) => Box::new(crate::ui::JsonLines(l)),
        (Ui::Plain, Some(l)) => Box::new(crate::ui::Plain(l)),
        _ => Box::new(crate::ui::Tui::start(cfg.coach.display_s as f64)),
    };
    let mut sink = ToHub { view, uplink };
    let opts = LiveOptions {
        layout,
        model: model.clone(),
        record: args.record.clone(),
        duration: args.duration,
        stop,
        customer_name: args.customer_name.clone(),
    };
    let summary = live::run(&cfg, opts, &mut sink);
    let ToHub { view, uplink } = sink;
    drop(view); // restores the terminal before anything is printed
    let sent = uplink.map(|u| {
        let d = summary.as_ref().map(|s| s.duration_s).unwrap_or(0.0);
        u.finish(d, std::time::Duration::from_secs(10))
    });
    if let (Some(s), Some(url)) = (&sent, &hub_url)
        && s.pending > 0
    {
        eprintln!(
            "calmline: {} event(s) not yet acknowledged by {url}; they wait in the outbox and go with the next call",
            s.pending
        );
    }
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            // What the call said before it failed is written before the error is.
            drop(lines);
            finish_output(writer);
            return Err(e.into());
        }
    };
    let out = |line: String| match &lines {
        Some(l) => l.send(line),
        None => println!("{line}"),
    };
    match ui {
        Ui::Json => out(serde_json::json!({
            "type": "summary",
            "t_s": summary.duration_s,
            "summary": summary,
            "hub": sent,
            "output_lines_dropped": lines.as_ref().map_or(0, |l| l.dropped()),
        })
        .to_string()),
        _ => {
            out(format!(
                "call ended after {:.0} s: {} customer episode(s), cues {:?}, alerts {:?}, {} samples dropped, drift {:.0} ppm",
                summary.duration_s,
                summary.customer_episodes,
                summary.cues,
                summary.alerts,
                summary.dropped_samples,
                summary.drift_ppm
            ));
            if let (Some(p50), Some(p95)) =
                (summary.transcript_lag_p50_s, summary.transcript_lag_p95_s)
            {
                out(format!(
                    "transcription lag p50 {p50:.2} s, p95 {p95:.2} s, {} skipped",
                    summary.transcripts_skipped
                ));
            }
        }
    }
    drop(lines);
    finish_output(writer);
    if let Some(rec) = &summary.recording {
        // The recording reviewed with the same pipeline: the same results, for QA.
        // Named as the call was: the agent as supervisors saw them, the customer if given.
        let mut opts = ReviewOptions::new(model.as_ref(), 0);
        opts.agent_name = Some(&agent);
        opts.customer_name = args.customer_name.as_deref();
        let review = review_file_with(rec, &cfg, opts, &|_| {})?;
        let stem = rec
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "call".into());
        std::fs::create_dir_all(&args.out)?;
        let json = args.out.join(format!("{stem}.json"));
        let html = args.out.join(format!("{stem}.html"));
        crate::report::write::write_all_or_nothing(&[
            (json.clone(), serde_json::to_vec_pretty(&review)?),
            (
                html.clone(),
                crate::report::html::render_with(
                    &review,
                    crate::report::html::recording_href(rec, &args.out).as_deref(),
                )
                .into_bytes(),
            ),
        ])?;
        eprintln!(
            "recorded {} and wrote {} and {}",
            rec.display(),
            json.display(),
            html.display()
        );
    }
    if args.remember {
        let path = remember(&args)?;
        eprintln!("remembered the devices in {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Write the device flags of this (successful) call into the user configuration file, keeping
/// everything else in it (comments too), and only if the result is a valid configuration.
fn remember(args: &LiveArgs) -> anyhow::Result<std::path::PathBuf> {
    use toml_edit::{DocumentMut, Item, Table, value};
    let path = super::user_config_path()
        .context("no place for the user configuration: set CALMLINE_CONFIG or HOME")?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{}: not valid TOML", path.display()))?;
    fn table<'a>(
        doc: &'a mut DocumentMut,
        name: &str,
        path: &std::path::Path,
    ) -> anyhow::Result<&'a mut Table> {
        doc.entry(name)
            .or_insert(Item::Table(Table::new()))
            .as_table_mut()
            .with_context(|| format!("{}: [{name}] is not a table", path.display()))
    }
    let live = table(&mut doc, "live", &path)?;
    // Exactly one layout is remembered: the other's keys are cleared.
    let (device, agent, customer) = match (&args.device, &args.agent_device, &args.customer_device)
    {
        (Some(d), _, _) => (d.as_str(), "", ""),
        (None, Some(a), Some(c)) => ("", a.as_str(), c.as_str()),
        _ => unreachable!("checked before the call"),
    };
    live["device"] = value(device);
    live["agent_device"] = value(agent);
    live["customer_device"] = value(customer);
    if let Some(side) = &args.customer_channel {
        table(&mut doc, "channels", &path)?["customer"] = value(side.as_str());
    }
    let new = doc.to_string();
    crate::Config::from_layers(Some((&path, &new)))
        .with_context(|| format!("not remembered: {} would not be valid", path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::report::write::write_all_or_nothing(&[(path.clone(), new.into_bytes())])
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
