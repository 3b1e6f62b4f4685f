//! `calmline hub`: serve the floor, or manage stations and supervisors.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::{HubArgs, HubCommand, TokenCommand, UserCommand, resolve_config};
use crate::hub::{HubOptions, Store, auth};
use crate::language::Redactor;

/// How this process signs in to NATS: the credentials file from `--nats-creds` or `[nats]
/// creds_file`, else the nkey seed from `--nats-nkey` or `[nats] nkey_file`, else user and
/// password (the password from `$CALMLINE_NATS_PASSWORD` or `[nats] password`). Files are read
/// and checked here, so a wrong one stops the command at start, named.
pub(super) fn nats_auth(
    args: &super::NatsSignIn,
    cfg: &crate::Config,
) -> anyhow::Result<crate::uplink::nats::NatsAuth> {
    let file = |flag: &Option<PathBuf>, setting: &str| {
        flag.clone()
            .or_else(|| Some(PathBuf::from(setting)).filter(|p| !p.as_os_str().is_empty()))
    };
    let read = |f: &std::path::Path, what: &str| {
        std::fs::read_to_string(f)
            .with_context(|| format!("{}: cannot read the {what}", f.display()))
    };
    let mut auth = crate::uplink::nats::NatsAuth {
        user: args
            .nats_user
            .clone()
            .unwrap_or_else(|| cfg.nats.user.clone()),
        password: std::env::var("CALMLINE_NATS_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| cfg.nats.password.clone()),
        ..Default::default()
    };
    if let Some(f) = file(&args.nats_creds, &cfg.nats.creds_file) {
        let text = read(&f, "NATS credentials")?;
        // The client's own parser, so what passes here is what it will sign in with.
        async_nats::ConnectOptions::with_credentials(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a NATS credentials file ({e}; expected the user JWT and seed blocks that `nsc generate creds` writes)",
                f.display()
            )
        })?;
        auth.credentials = text;
    } else if let Some(f) = file(&args.nats_nkey, &cfg.nats.nkey_file) {
        let text = read(&f, "NATS nkey seed")?;
        // nsc's files hold the seed on a line of its own, among comments.
        let seed = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU"))
            .with_context(|| {
                format!(
                    "{}: no NATS user seed in this file (a line starting with SU, e.g. from `nsc generate nkey --user`)",
                    f.display()
                )
            })?;
        auth.nkey_seed = seed.to_string();
    }
    Ok(auth)
}

pub(super) fn run(args: HubArgs) -> anyhow::Result<ExitCode> {
    let cfg = resolve_config(args.config.as_ref(), None)?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| crate::config::data_path(&cfg.hub.db, "hub.sqlite"));
    match args.command {
        None => {
            let bind = args.bind.as_deref().unwrap_or(&cfg.hub.bind);
            let bind = bind.parse().with_context(|| {
                format!("--bind {bind:?}: expected an address and port, e.g. 127.0.0.1:7878")
            })?;
            let h = &cfg.hub;
            let nats = match args
                .nats
                .clone()
                .or_else(|| Some(cfg.nats.url.clone()).filter(|u| !u.trim().is_empty()))
            {
                Some(url) => {
                    let consumer = args.consumer.clone().unwrap_or(cfg.nats.consumer.clone());
                    let sites = if args.sites.is_empty() {
                        cfg.nats.sites.clone()
                    } else {
                        args.sites.clone()
                    };
                    for (what, v) in std::iter::once(("consumer", &consumer))
                        .chain(sites.iter().map(|s| ("site", s)))
                    {
                        if !crate::uplink::nats::valid_token(v) {
                            anyhow::bail!("NATS {what} {v:?}: expected 1-64 of A-Z a-z 0-9 - _");
                        }
                    }
                    Some(crate::hub::nats::NatsFeed {
                        url,
                        auth: nats_auth(&args.sign_in, &cfg)?,
                        consumer,
                        sites,
                    })
                }
                None => None,
            };
            crate::hub::run(
                HubOptions {
                    bind,
                    db,
                    retention_days: h.retention_days,
                    silent_after_s: h.silent_after_s,
                    max_batch_bytes: h.max_batch_bytes,
                    max_event_bytes: h.max_event_bytes,
                    session_hours: h.session_hours,
                    sign_in: crate::hub::throttle::Limits {
                        per_name: h.login_failures_per_name,
                        per_address: h.login_failures_per_address,
                        window: Duration::from_secs_f64(h.login_window_s),
                        lock: Duration::from_secs_f64(h.login_lock_s),
                        lock_max: Duration::from_secs_f64(h.login_lock_max_s),
                    },
                    tls: args.tls_cert.clone().zip(args.tls_key.clone()),
                    nats,
                },
                Redactor::new(cfg.phrase_set()),
            )?;
        }
        Some(HubCommand::Token(t)) => {
            if !matches!(t, TokenCommand::Add { .. }) {
                existing_store(&db)?;
            }
            let store = Store::open(&db)?;
            match t {
                TokenCommand::Add { name, team } => {
                    check_name(&name)?;
                    check_name(&team)?;
                    let token = auth::secret("clst_")?;
                    store.add_station(&name, &team, &auth::digest(&token))?;
                    eprintln!("station {name} (team {team}) added; its token (shown only now):");
                    println!("{token}");
                }
                TokenCommand::List => {
                    let stations = store.stations()?;
                    if stations.is_empty() {
                        eprintln!("no stations in {}", db.display());
                    }
                    for s in stations {
                        println!("{}\tteam {}", s.name, s.team);
                    }
                }
                TokenCommand::Revoke { name } => {
                    store.revoke_station(&name)?;
                    eprintln!("station {name}: token revoked");
                }
            }
        }
        Some(HubCommand::User(u)) => {
            if !matches!(u, UserCommand::Add { .. }) {
                existing_store(&db)?;
            }
            let store = Store::open(&db)?;
            match u {
                UserCommand::Add { name, team, admin } => {
                    check_name(&name)?;
                    for t in &team {
                        check_name(t)?;
                    }
                    if team.is_empty() && !admin {
                        anyhow::bail!(
                            "give the supervisor's --team (or --admin to see every team)"
                        );
                    }
                    if std::io::stdin().is_terminal() {
                        eprintln!("password for {name} (then Enter):");
                    }
                    let mut pw = String::new();
                    std::io::stdin()
                        .read_to_string(&mut pw)
                        .context("cannot read the password from standard input")?;
                    let pw = pw.lines().next().unwrap_or("").to_string();
                    if pw.chars().count() < 8 {
                        anyhow::bail!("the password must have at least 8 characters");
                    }
                    store.put_user(&name, &team, admin, &auth::hash_password(&pw)?)?;
                    eprintln!(
                        "supervisor {name} saved ({})",
                        if admin {
                            "admin, all teams".to_string()
                        } else {
                            format!("teams {}", team.join(", "))
                        }
                    );
                }
                UserCommand::List => {
                    let users = store.users()?;
                    if users.is_empty() {
                        eprintln!("no supervisors in {}", db.display());
                    }
                    for u in users {
                        println!(
                            "{}\t{}{}",
                            u.name,
                            u.teams.join(","),
                            if u.admin { "\tadmin" } else { "" }
                        );
                    }
                }
                UserCommand::Remove { name } => {
                    store.remove_user(&name)?;
                    eprintln!("supervisor {name} removed");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Listing or removing from a store that is not there: a mistyped `--db` would otherwise
/// create an empty store and list nothing, as if every station and supervisor were gone.
fn existing_store(db: &Path) -> anyhow::Result<()> {
    if !db.exists() {
        anyhow::bail!(
            "no hub store at {} (`calmline hub token add` or `hub user add` creates one; --db or [hub] db say where it is)",
            db.display()
        );
    }
    Ok(())
}

/// Names and teams: 1-64 letters, digits, `.`, `_`, `-` (they appear in URLs, CSV and logs).
fn check_name(s: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        anyhow::bail!("{s:?}: names and teams are 1-64 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}
