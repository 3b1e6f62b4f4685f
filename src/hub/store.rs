//! The hub's store: SQLite in WAL mode. Stations, supervisors and their sessions, calls, every
//! event a monitor delivered (by id, so a resent event is stored once), alerts with their
//! lifecycle, and the audit trail.
//!
//! One writer thread owns the write connection and commits whole batches of monitor events in
//! one transaction (see [`super::server`]); readers open their own connections (WAL lets them
//! read while the writer writes).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::floor::{FloorAction, FloorOrigin, FloorStep};
use crate::error::{Error, Result};
use crate::events::{AlertKind, Envelope, EventBody, Speaker};
use crate::language::Redactor;

/// A call whose monitor has sent nothing for this long is ended by the hub (ms).
const ABANDON_MS: i64 = 300_000;

/// How long a step from another hub waits for its alert to reach this hub (ms): as long as
/// the stream keeps events.
const FLOOR_PENDING_MS: i64 = 7 * 86_400_000;

/// Points kept in a call's escalation trend (one per second of call: the last 4 minutes).
const TREND_POINTS: usize = 240;

/// The schema; `IF NOT EXISTS` throughout, so opening an existing store is a no-op.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stations(
    name TEXT PRIMARY KEY, team TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL, revoked_ms INTEGER, last_ms INTEGER);
CREATE TABLE IF NOT EXISTS users(
    name TEXT PRIMARY KEY, teams TEXT NOT NULL, admin INTEGER NOT NULL, pw_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    id_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS calls(
    id TEXT PRIMARY KEY, station TEXT NOT NULL, team TEXT NOT NULL, agent TEXT NOT NULL,
    started_ms INTEGER NOT NULL, ended_ms INTEGER, last_ms INTEGER NOT NULL,
    duration_s REAL NOT NULL DEFAULT 0, level REAL NOT NULL DEFAULT 0,
    peak REAL NOT NULL DEFAULT 0, escalated INTEGER NOT NULL DEFAULT 0,
    escalated_since_ms INTEGER, trend TEXT NOT NULL DEFAULT '[]', snippet TEXT,
    capturing INTEGER NOT NULL DEFAULT 1, silent INTEGER NOT NULL DEFAULT 0,
    dropped_samples INTEGER NOT NULL DEFAULT 0, sides_in_doubt INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS calls_started ON calls(started_ms);
CREATE TABLE IF NOT EXISTS events(
    id TEXT PRIMARY KEY, call TEXT NOT NULL, seq INTEGER NOT NULL, t_s REAL NOT NULL,
    type TEXT NOT NULL, sent_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_call ON events(call, seq);
CREATE TABLE IF NOT EXISTS alerts(
    id INTEGER PRIMARY KEY, call TEXT NOT NULL, event_id TEXT, kind TEXT NOT NULL,
    headline TEXT NOT NULL, reason TEXT NOT NULL, snippet TEXT, priority INTEGER NOT NULL,
    t_s REAL NOT NULL, opened_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
    claimed_by TEXT, claimed_ms INTEGER, resolved_by TEXT, resolved_ms INTEGER, note TEXT,
    step_ms INTEGER);
CREATE INDEX IF NOT EXISTS alerts_call_kind ON alerts(call, kind, state);
CREATE INDEX IF NOT EXISTS alerts_opened ON alerts(opened_ms);
CREATE TABLE IF NOT EXISTS audit(
    id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    alert INTEGER, call TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS floor_outbox(id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS floor_pending(
    id TEXT PRIMARY KEY, event_id TEXT NOT NULL, body TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS floor_pending_event ON floor_pending(event_id);
";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A station (one agent's monitor) as the hub knows it.
#[derive(Debug, Clone, Serialize)]
pub struct Station {
    /// Its name.
    pub name: String,
    /// Its team.
    pub team: String,
    /// Revoked stations are refused.
    pub revoked: bool,
}

/// A station's health on the floor.
#[derive(Debug, Clone, Serialize)]
pub struct StationHealth {
    /// Station name.
    pub name: String,
    /// Its team.
    pub team: String,
    /// When the hub last heard from it (ms), if ever.
    pub last_ms: Option<i64>,
    /// Its active call, if any.
    pub call: Option<String>,
    /// The agent on that call.
    pub agent: Option<String>,
    /// Whether every capture device delivers audio (during a call).
    pub capturing: Option<bool>,
    /// The call's monitor has gone quiet.
    pub silent: bool,
    /// Audio samples dropped on the active call.
    pub dropped_samples: i64,
}

/// A supervisor account.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Teams whose calls they see.
    pub teams: Vec<String>,
    /// Sees every team and may manage the hub.
    pub admin: bool,
}

impl User {
    /// Whether this user may see a call of `team`.
    pub fn sees(&self, team: &str) -> bool {
        self.admin || self.teams.iter().any(|t| t == team)
    }
}

/// A call as the floor view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    /// The monitor's call id.
    pub id: String,
    /// Station name.
    pub station: String,
    /// Team.
    pub team: String,
    /// Agent name.
    pub agent: String,
    /// When the hub first heard of it (ms).
    pub started_ms: i64,
    /// When it ended (ms), if it has.
    pub ended_ms: Option<i64>,
    /// When the hub last heard from its monitor (ms).
    pub last_ms: i64,
    /// Call clock of the latest event (s).
    pub duration_s: f64,
    /// The customer's latest escalation score (1 = the start threshold).
    pub level: f64,
    /// The highest score so far.
    pub peak: f64,
    /// Inside an escalation episode now.
    pub escalated: bool,
    /// Since when (ms), if escalated.
    pub escalated_since_ms: Option<i64>,
    /// The customer's escalation score, about one point per second.
    pub trend: Vec<f32>,
    /// The latest thing the customer said (redacted).
    pub snippet: Option<String>,
    /// Every device of the monitor is delivering audio.
    pub capturing: bool,
    /// The monitor has gone quiet mid-call.
    pub silent: bool,
    /// Audio samples the monitor dropped.
    pub dropped_samples: i64,
    /// The monitor warned that the words fit its two sides the other way round: what the floor
    /// sees as the customer may be the agent.
    pub sides_in_doubt: bool,
}

/// An alert with its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    /// Hub-wide id.
    pub id: i64,
    /// The call.
    pub call: String,
    /// The monitor's event id of the alert that opened it (none for hub-raised alerts).
    pub event_id: Option<String>,
    /// Kind (`escalated_call`, ...).
    pub kind: String,
    /// One line.
    pub headline: String,
    /// Why, in one sentence.
    pub reason: String,
    /// What the customer said around then.
    pub snippet: Option<String>,
    /// 1 is the most urgent.
    pub priority: i64,
    /// Call clock when raised (s).
    pub t_s: f64,
    /// Opened (ms).
    pub opened_ms: i64,
    /// Last raised again (ms).
    pub updated_ms: i64,
    /// How many times it was raised again while open.
    pub repeats: i64,
    /// `open`, `claimed` or `resolved`.
    pub state: String,
    /// Who claimed it.
    pub claimed_by: Option<String>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// Resolution note.
    pub note: Option<String>,
    /// The call's team and agent (joined in).
    pub team: String,
    /// See above.
    pub agent: String,
    /// When the call started (ms, joined in): names an ended call's alert on the floor.
    pub call_started_ms: Option<i64>,
}

/// One audit-trail entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// When (ms).
    pub at_ms: i64,
    /// Who: a supervisor's name, `station:NAME`, or `hub`.
    pub actor: String,
    /// `raised`, `repeated`, `claimed`, `unclaimed`, `resolved`, `login`, ...
    pub action: String,
    /// The alert concerned.
    pub alert: Option<i64>,
    /// The call concerned.
    pub call: Option<String>,
    /// Details (a note).
    pub detail: Option<String>,
}

/// What a committed batch changed, for the live page.
#[derive(Debug, Default)]
pub struct Changes {
    /// Calls whose tile changed.
    pub calls: Vec<String>,
    /// Alerts opened or updated.
    pub alerts: Vec<i64>,
}

/// Filters of the history queries (all optional; text matches headline, reason, snippet, agent).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filter {
    /// Team.
    pub team: Option<String>,
    /// Agent.
    pub agent: Option<String>,
    /// Alert kind.
    pub kind: Option<String>,
    /// Alert state.
    pub state: Option<String>,
    /// From this date or time (ms since the epoch, or `YYYY-MM-DD`).
    pub from: Option<String>,
    /// Up to this date (inclusive) or time.
    pub to: Option<String>,
    /// Text to find.
    pub q: Option<String>,
    /// Only active calls.
    pub active: Option<bool>,
    /// At most this many rows (default 500).
    pub limit: Option<u32>,
}

/// A connection to the hub's store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Set when supervisors' steps are shared with the floor's other hubs: they are queued
    /// for NATS in the same transaction as the step.
    floor: Option<FloorOrigin>,
}

fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `YYYY-MM-DD` (UTC) or milliseconds to milliseconds; `end` takes the end of that day.
fn parse_when(s: &str, end: bool) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let mut it = s.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400_000 + if end { 86_400_000 - 1 } else { 0 })
}

impl Store {
    /// Open (creating if needed) the store at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        let me = Self {
            conn,
            path: path.to_path_buf(),
            floor: None,
        };
        me.conn.set_prepared_statement_cache_capacity(64);
        me.conn
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| me.err(e))?;
        // WAL: readers never wait for the writer; NORMAL: a commit survives a process kill
        // (what the hub acknowledges), fsync at checkpoints.
        me.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| me.err(e))?;
        me.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| me.err(e))?;
        me.conn.execute_batch(SCHEMA).map_err(|e| me.err(e))?;
        // Columns added since the first release: a store written by an older hub gains them.
        let has = |table: &str, column: &str| -> rusqlite::Result<bool> {
            let mut q = me
                .conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
            let names = q.query_map([], |r| r.get::<_, String>(0))?;
            for n in names {
                if n? == column {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        for (table, column, sql) in [
            (
                "calls",
                "sides_in_doubt",
                "ALTER TABLE calls ADD COLUMN sides_in_doubt INTEGER NOT NULL DEFAULT 0",
            ),
            (
                "alerts",
                "step_ms",
                "ALTER TABLE alerts ADD COLUMN step_ms INTEGER",
            ),
        ] {
            if !has(table, column).map_err(|e| me.err(e))? {
                me.conn.execute_batch(sql).map_err(|e| me.err(e))?;
            }
        }
        // After the migration: older stores have no `event_id` index either.
        me.conn
            .execute_batch("CREATE INDEX IF NOT EXISTS alerts_event ON alerts(event_id)")
            .map_err(|e| me.err(e))?;
        Ok(me)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    // ---- stations ----

    /// Add a station with its token's hash. Fails if the name exists.
    pub fn add_station(&self, name: &str, team: &str, token_hash: &str) -> Result<()> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO stations(name, team, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, team, token_hash, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::Invalid(format!(
                "a station named {name:?} exists already (revoke it first to issue a new token)"
            )));
        }
        Ok(())
    }

    /// Every station.
    pub fn stations(&self) -> Result<Vec<Station>> {
        let mut st = self
            .conn
            .prepare("SELECT name, team, revoked_ms IS NOT NULL FROM stations ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(Station {
                    name: r.get(0)?,
                    team: r.get(1)?,
                    revoked: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// For `/metrics`: stations registered (not revoked), stations heard from within `quiet_ms`,
    /// calls in progress and reporting, and alerts by kind and state.
    #[allow(clippy::type_complexity)]
    pub fn metrics(&self, quiet_ms: i64) -> Result<(i64, i64, i64, Vec<(String, String, i64)>)> {
        let since = now_ms() - quiet_ms;
        let one = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64> {
            row1(&self.conn, sql, p, |r| r.get(0)).map_err(|e| self.err(e))
        };
        let stations = one(
            "SELECT COUNT(*) FROM stations WHERE revoked_ms IS NULL",
            &[],
        )?;
        let heard = one(
            "SELECT COUNT(DISTINCT station) FROM calls WHERE last_ms >= ?1",
            &[&since],
        )?;
        let active = one(
            "SELECT COUNT(*) FROM calls WHERE ended_ms IS NULL AND silent = 0",
            &[],
        )?;
        let mut st = self
            .conn
            .prepare_cached("SELECT kind, state, COUNT(*) FROM alerts GROUP BY kind, state ORDER BY kind, state")
            .map_err(|e| self.err(e))?;
        let alerts = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok((stations, heard, active, alerts))
    }

    /// Changes whenever a station is added or revoked (the hub's token cache is cleared then).
    pub fn stations_version(&self) -> Result<(i64, i64, i64)> {
        row1(
            &self.conn,
            "SELECT COUNT(*), COALESCE(MAX(created_ms), 0), COALESCE(MAX(revoked_ms), 0) FROM stations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| self.err(e))
    }

    /// A station by name, revoked or not.
    pub fn station_by_name(&self, name: &str) -> Result<Option<Station>> {
        self.conn
            .query_row(
                "SELECT name, team, revoked_ms IS NOT NULL FROM stations WHERE name = ?1",
                params![name],
                |r| {
                    Ok(Station {
                        name: r.get(0)?,
                        team: r.get(1)?,
                        revoked: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every station's health: when it was last heard from and its call now, if any.
    pub fn station_health(&self) -> Result<Vec<StationHealth>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.name, s.team, s.last_ms, c.id, c.agent, c.capturing, c.silent, c.dropped_samples
                 FROM stations s LEFT JOIN calls c ON c.station = s.name AND c.ended_ms IS NULL
                 ORDER BY s.team, s.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(StationHealth {
                    name: r.get(0)?,
                    team: r.get(1)?,
                    last_ms: r.get(2)?,
                    call: r.get(3)?,
                    agent: r.get(4)?,
                    capturing: r.get::<_, Option<bool>>(5)?,
                    silent: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
                    dropped_samples: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Revoke a station's token (it is refused from now on). Removes the row, so the name can
    /// be issued again; its calls stay in the history.
    pub fn revoke_station(&self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM stations WHERE name = ?1", params![name])
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::Invalid(format!("no station named {name:?}")));
        }
        Ok(())
    }

    /// The station a token hash belongs to, if it is valid.
    pub fn station_by_token(&self, token_hash: &str) -> Result<Option<Station>> {
        row1(
            &self.conn,
            "SELECT name, team FROM stations WHERE token_hash = ?1 AND revoked_ms IS NULL",
            params![token_hash],
            |r| {
                Ok(Station {
                    name: r.get(0)?,
                    team: r.get(1)?,
                    revoked: false,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    // ---- users and sessions ----

    /// Add a supervisor (or replace their password and teams when they exist).
    pub fn put_user(&self, name: &str, teams: &[String], admin: bool, pw_hash: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO users(name, teams, admin, pw_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET teams = ?2, admin = ?3, pw_hash = ?4",
                params![name, teams.join(","), admin, pw_hash, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Remove a supervisor and their sessions.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM users WHERE name = ?1", params![name])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM sessions WHERE user = ?1", params![name])
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::Invalid(format!("no user named {name:?}")));
        }
        Ok(())
    }

    /// Every supervisor.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut st = self
            .conn
            .prepare("SELECT name, teams, admin FROM users ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                let teams: String = r.get(1)?;
                Ok(User {
                    name: r.get(0)?,
                    teams: split_teams(&teams),
                    admin: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// A supervisor and their password hash.
    pub fn user(&self, name: &str) -> Result<Option<(User, String)>> {
        self.conn
            .query_row(
                "SELECT name, teams, admin, pw_hash FROM users WHERE name = ?1",
                params![name],
                |r| {
                    let teams: String = r.get(1)?;
                    Ok((
                        User {
                            name: r.get(0)?,
                            teams: split_teams(&teams),
                            admin: r.get(2)?,
                        },
                        r.get(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Store a new session.
    pub fn add_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        expires_ms: i64,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sessions(id_hash, user, csrf, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id_hash, user, csrf, expires_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The user and CSRF token of a live session.
    pub fn session(&self, id_hash: &str) -> Result<Option<(User, String)>> {
        self.conn
            .query_row(
                "SELECT u.name, u.teams, u.admin, s.csrf FROM sessions s JOIN users u ON u.name = s.user
                 WHERE s.id_hash = ?1 AND s.expires_ms > ?2",
                params![id_hash, now_ms()],
                |r| {
                    let teams: String = r.get(1)?;
                    Ok((
                        User {
                            name: r.get(0)?,
                            teams: split_teams(&teams),
                            admin: r.get(2)?,
                        },
                        r.get(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// End a session.
    pub fn end_session(&self, id_hash: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE id_hash = ?1", params![id_hash])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    // ---- monitor events ----

    /// Store a batch of monitor events from `station` in one transaction, and apply them to
    /// the calls and alerts. Returns, per envelope, whether it was new (`false`: a duplicate id,
    /// ignored), and what changed.
    pub fn ingest(
        &mut self,
        batch: &[(Station, Envelope)],
        redactor: &Redactor,
    ) -> Result<(Vec<bool>, Changes)> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let mut fresh = Vec::with_capacity(batch.len());
        let mut changes = Changes::default();
        let now = now_ms();
        for (station, env) in batch {
            let body = serde_json::to_string(&env.event).unwrap_or_default();
            let kind = event_type(&env.event.body);
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO events(id, call, seq, t_s, type, sent_ms, received_ms, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![env.id, env.call, env.seq as i64, env.event.t_s, kind, env.sent_ms, now, body],
                )
                .map_err(|e| db_err(&path, e))?;
            fresh.push(n == 1);
            if n == 0 {
                continue;
            }
            apply(&tx, station, env, now, redactor, &mut changes).map_err(|e| db_err(&path, e))?;
        }
        // When each station was last heard from (its health on the floor).
        let mut names: Vec<&str> = batch.iter().map(|(s, _)| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            exec(
                &tx,
                "UPDATE stations SET last_ms = ?2 WHERE name = ?1",
                params![n, now],
            )
            .map_err(|e| db_err(&path, e))?;
        }
        tx.commit().map_err(|e| db_err(&path, e))?;
        changes.calls.sort();
        changes.calls.dedup();
        changes.alerts.sort_unstable();
        changes.alerts.dedup();
        Ok((fresh, changes))
    }

    /// Calls whose monitor has been quiet for `quiet_ms` while the call is still on: mark them
    /// silent and open a `station_silent` alert for each. Also for calls whose monitor reports
    /// it stopped capturing. Returns what changed.
    pub fn mark_silent(&mut self, quiet_ms: i64) -> Result<Changes> {
        let path = self.path.clone();
        let now = now_ms();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let mut changes = Changes::default();
        let quiet: Vec<(String, String, f64, bool)> = {
            let mut st = tx
                .prepare(
                    "SELECT id, station, duration_s, last_ms < ?1 FROM calls
                     WHERE ended_ms IS NULL AND silent = 0 AND (last_ms < ?1 OR capturing = 0)",
                )
                .map_err(|e| db_err(&path, e))?;
            st.query_map(params![now - quiet_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| db_err(&path, e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| db_err(&path, e))?
        };
        for (call, station, t_s, gone) in quiet {
            exec(
                &tx,
                "UPDATE calls SET silent = 1 WHERE id = ?1",
                params![call],
            )
            .map_err(|e| db_err(&path, e))?;
            let reason = if gone {
                format!(
                    "No events from station {station} for {} s in the middle of the call: the monitor stopped or lost its connection.",
                    quiet_ms / 1000
                )
            } else {
                format!("Station {station} reports a capture device not delivering audio.")
            };
            let id = open_alert(
                &tx,
                &call,
                None,
                AlertKind::StationSilent.name(),
                "Monitor stopped: call not analysed",
                &reason,
                None,
                2,
                t_s,
                now,
                "hub",
            )
            .map_err(|e| db_err(&path, e))?;
            changes.alerts.push(id);
            changes.calls.push(call);
        }
        // A call whose monitor has been gone for 5 minutes is over as far as the floor is
        // concerned: it leaves the tiles (its alerts stay in the inbox until resolved).
        let abandoned: Vec<String> = {
            let mut st = tx
                .prepare("SELECT id FROM calls WHERE ended_ms IS NULL AND last_ms < ?1")
                .map_err(|e| db_err(&path, e))?;
            st.query_map(params![now - ABANDON_MS.max(quiet_ms)], |r| r.get(0))
                .map_err(|e| db_err(&path, e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| db_err(&path, e))?
        };
        for call in abandoned {
            exec(
                &tx,
                "UPDATE calls SET ended_ms = last_ms, escalated = 0 WHERE id = ?1",
                params![call],
            )
            .map_err(|e| db_err(&path, e))?;
            audit(&tx, now, "hub", "call_abandoned", None, Some(&call), None)
                .map_err(|e| db_err(&path, e))?;
            changes.calls.push(call);
        }
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(changes)
    }

    /// Delete calls (with their events and alerts) that started more than `days` ago, and
    /// audit entries as old, and expired sessions. Returns the calls deleted.
    pub fn purge(&mut self, days: u32) -> Result<usize> {
        let path = self.path.clone();
        let cut = now_ms() - days as i64 * 86_400_000;
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let run = |sql: &str, p: i64| exec(&tx, sql, params![p]).map_err(|e| db_err(&path, e));
        run(
            "DELETE FROM events WHERE call IN (SELECT id FROM calls WHERE started_ms < ?1)",
            cut,
        )?;
        run(
            "DELETE FROM alerts WHERE call IN (SELECT id FROM calls WHERE started_ms < ?1)",
            cut,
        )?;
        let n = run("DELETE FROM calls WHERE started_ms < ?1", cut)?;
        run("DELETE FROM audit WHERE at_ms < ?1", cut)?;
        run("DELETE FROM sessions WHERE expires_ms < ?1", now_ms())?;
        // Steps for alerts this hub never received (a site it does not follow).
        run(
            "DELETE FROM floor_pending WHERE at_ms < ?1",
            now_ms() - FLOOR_PENDING_MS,
        )?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(n)
    }

    // ---- counters ----

    /// Add to a named counter (refusals by reason, duplicates, ...).
    pub fn count(&self, name: &str, by: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO counters(name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = value + ?2",
                params![name, by],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every counter.
    pub fn counters(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let mut st = self
            .conn
            .prepare("SELECT name, value FROM counters")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    // ---- supervisors' actions ----

    /// Share this store's supervisor steps with the floor's other hubs: from now on each
    /// claim, unclaim and resolve is also queued for NATS ([`Store::floor_outbox`]).
    pub fn share_steps(&mut self, hub_name: &str) -> Result<()> {
        let id = self.hub_id()?;
        self.floor = Some(FloorOrigin {
            id,
            hub: hub_name.to_string(),
        });
        Ok(())
    }

    /// This store's own random id (made once): tells its own shared steps from the others'.
    pub fn hub_id(&self) -> Result<String> {
        let fresh = super::auth::secret("hub_")?;
        exec(
            &self.conn,
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('hub_id', ?1)",
            params![&fresh[..20]],
        )
        .map_err(|e| self.err(e))?;
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'hub_id'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// Claim an alert (`claim`) or give it back. Returns the updated alert, or `None` when it
    /// does not exist. Claiming one already resolved is refused.
    pub fn claim(&mut self, id: i64, user: &str, claim: bool) -> Result<Option<AlertRow>> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let Some(cur) = step_target(&tx, id).map_err(|e| db_err(&path, e))? else {
            return Ok(None);
        };
        if cur.state == "resolved" {
            return Err(Error::Invalid(format!("alert {id} is resolved already")));
        }
        // Later than any step already taken, even one from a hub whose clock is ahead: what
        // a supervisor does now is the latest step everywhere.
        let now = now_ms().max(cur.step_ms.map_or(0, |s| s + 1));
        set_claim(&tx, id, claim.then_some(user), now).map_err(|e| db_err(&path, e))?;
        audit(
            &tx,
            now,
            user,
            if claim { "claimed" } else { "unclaimed" },
            Some(id),
            None,
            None,
        )
        .map_err(|e| db_err(&path, e))?;
        let step = if claim {
            FloorStep::Claim
        } else {
            FloorStep::Unclaim
        };
        queue_step(&tx, &path, self.floor.as_ref(), &cur, step, user, None, now)?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        self.alert(id)
    }

    /// Resolve an alert with an optional note.
    pub fn resolve(&mut self, id: i64, user: &str, note: Option<&str>) -> Result<Option<AlertRow>> {
        let now = now_ms();
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let Some(cur) = step_target(&tx, id).map_err(|e| db_err(&path, e))? else {
            return Ok(None);
        };
        if cur.state == "resolved" {
            return Err(Error::Invalid(format!("alert {id} is resolved already")));
        }
        set_resolved(&tx, id, user, now, note).map_err(|e| db_err(&path, e))?;
        audit(&tx, now, user, "resolved", Some(id), None, note).map_err(|e| db_err(&path, e))?;
        queue_step(
            &tx,
            &path,
            self.floor.as_ref(),
            &cur,
            FloorStep::Resolve,
            user,
            note,
            now,
        )?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        self.alert(id)
    }

    /// Steps waiting to be published to the floor (oldest first), at most `max`.
    pub fn floor_outbox(&self, max: usize) -> Result<Vec<FloorAction>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT body FROM floor_outbox ORDER BY rowid LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![max as i64], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let body = r.map_err(|e| self.err(e))?;
            // Written by this hub: always valid; a damaged row is skipped, not fatal.
            if let Ok(a) = serde_json::from_str(&body) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Supervisors' steps not yet published to the floor's other hubs, and other hubs' steps
    /// waiting for their alert here.
    pub fn floor_backlog(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM floor_outbox), (SELECT COUNT(*) FROM floor_pending)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// A step published (JetStream stored it): it leaves the outbox.
    pub fn floor_sent(&self, id: &str) -> Result<()> {
        exec(
            &self.conn,
            "DELETE FROM floor_outbox WHERE id = ?1",
            params![id],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Apply a step another hub's supervisor took. Any order of arrival gives the same
    /// result: the latest claim or unclaim wins, and the earliest resolution. A step on an
    /// alert this hub has not raised yet waits for it. Returns the alert changed, if any.
    pub fn apply_floor(&mut self, a: &FloorAction) -> Result<Option<i64>> {
        let path = self.path.clone();
        // Write-locked from the start: the alert looked up is the latest, so a step is never
        // left waiting for an alert the writer thread raised meanwhile.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let changed = apply_floor(&tx, a).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(changed)
    }

    /// Record something a supervisor did that is not an alert step (a login, an export).
    pub fn audit(&self, actor: &str, action: &str, detail: Option<&str>) -> Result<()> {
        audit(&self.conn, now_ms(), actor, action, None, None, detail).map_err(|e| self.err(e))
    }

    // ---- reads ----

    /// One alert.
    pub fn alert(&self, id: i64) -> Result<Option<AlertRow>> {
        let sql = format!("{ALERT_SELECT} WHERE a.id = ?1");
        self.conn
            .query_row(&sql, params![id], alert_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// One call.
    pub fn call(&self, id: &str) -> Result<Option<CallRow>> {
        let sql = format!("{CALL_SELECT} WHERE id = ?1");
        row1(&self.conn, &sql, params![id], call_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Calls matching `f`, newest first.
    pub fn calls(&self, f: &Filter) -> Result<Vec<CallRow>> {
        let mut sql = format!("{CALL_SELECT} WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if f.active == Some(true) {
            sql.push_str(" AND ended_ms IS NULL");
        }
        if let Some(t) = &f.team {
            arg(&mut sql, " AND team = ?", t.clone().into());
        }
        if let Some(a) = &f.agent {
            arg(&mut sql, " AND agent = ?", a.clone().into());
        }
        if let Some(ms) = f.from.as_deref().and_then(|s| parse_when(s, false)) {
            arg(&mut sql, " AND started_ms >= ?", ms.into());
        }
        if let Some(ms) = f.to.as_deref().and_then(|s| parse_when(s, true)) {
            arg(&mut sql, " AND started_ms <= ?", ms.into());
        }
        if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
            args.push(format!("%{q}%").into());
            let n = args.len();
            sql.push_str(&format!(
                " AND (agent LIKE ?{n} OR snippet LIKE ?{n} OR station LIKE ?{n})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY started_ms DESC LIMIT {}",
            f.limit.unwrap_or(500).min(10_000)
        ));
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), call_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Alerts matching `f`, newest first.
    pub fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>> {
        let mut sql = format!("{ALERT_SELECT} WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            let n = args.len();
            sql.push_str(&clause.replace('?', &format!("?{n}")));
        };
        if let Some(t) = &f.team {
            arg(&mut sql, " AND c.team = ?", t.clone().into());
        }
        if let Some(a) = &f.agent {
            arg(&mut sql, " AND c.agent = ?", a.clone().into());
        }
        if let Some(k) = &f.kind {
            arg(&mut sql, " AND a.kind = ?", k.clone().into());
        }
        if let Some(s) = &f.state {
            if s == "active" {
                sql.push_str(" AND a.state != 'resolved'");
            } else {
                arg(&mut sql, " AND a.state = ?", s.clone().into());
            }
        }
        if let Some(ms) = f.from.as_deref().and_then(|s| parse_when(s, false)) {
            arg(&mut sql, " AND a.opened_ms >= ?", ms.into());
        }
        if let Some(ms) = f.to.as_deref().and_then(|s| parse_when(s, true)) {
            arg(&mut sql, " AND a.opened_ms <= ?", ms.into());
        }
        if f.active == Some(true) {
            sql.push_str(" AND c.ended_ms IS NULL");
        }
        if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
            args.push(format!("%{q}%").into());
            let n = args.len();
            sql.push_str(&format!(
                " AND (a.headline LIKE ?{n} OR a.reason LIKE ?{n} OR a.snippet LIKE ?{n} OR c.agent LIKE ?{n} OR a.note LIKE ?{n})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY a.opened_ms DESC, a.id DESC LIMIT {}",
            f.limit.unwrap_or(500).min(10_000)
        ));
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), alert_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The audit trail of one alert, oldest first.
    pub fn audit_of(&self, alert: i64) -> Result<Vec<AuditRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT at_ms, actor, action, alert, call, detail FROM audit WHERE alert = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![alert], |r| {
                Ok(AuditRow {
                    at_ms: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    alert: r.get(3)?,
                    call: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// When the monitor emitted a stored event (its wall clock, ms).
    pub fn event_sent_ms(&self, id: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT sent_ms FROM events WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Event ids stored for a call, by type (tests and exports).
    pub fn event_ids(&self, call: &str, kind: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM events WHERE call = ?1 AND type = ?2 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![call, kind], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}

fn split_teams(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

const CALL_SELECT: &str =
    "SELECT id, station, team, agent, started_ms, ended_ms, last_ms, duration_s, level, peak,
    escalated, escalated_since_ms, trend, snippet, capturing, silent, dropped_samples,
    sides_in_doubt FROM calls";

fn call_row(r: &rusqlite::Row) -> rusqlite::Result<CallRow> {
    let trend: String = r.get(12)?;
    Ok(CallRow {
        id: r.get(0)?,
        station: r.get(1)?,
        team: r.get(2)?,
        agent: r.get(3)?,
        started_ms: r.get(4)?,
        ended_ms: r.get(5)?,
        last_ms: r.get(6)?,
        duration_s: r.get(7)?,
        level: r.get(8)?,
        peak: r.get(9)?,
        escalated: r.get(10)?,
        escalated_since_ms: r.get(11)?,
        trend: serde_json::from_str(&trend).unwrap_or_default(),
        snippet: r.get(13)?,
        capturing: r.get(14)?,
        silent: r.get(15)?,
        dropped_samples: r.get(16)?,
        sides_in_doubt: r.get(17)?,
    })
}

const ALERT_SELECT: &str =
    "SELECT a.id, a.call, a.event_id, a.kind, a.headline, a.reason, a.snippet, a.priority,
    a.t_s, a.opened_ms, a.updated_ms, a.repeats, a.state, a.claimed_by, a.resolved_by, a.note,
    COALESCE(c.team, ''), COALESCE(c.agent, ''), c.started_ms FROM alerts a LEFT JOIN calls c ON c.id = a.call";

fn alert_row(r: &rusqlite::Row) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        call: r.get(1)?,
        event_id: r.get(2)?,
        kind: r.get(3)?,
        headline: r.get(4)?,
        reason: r.get(5)?,
        snippet: r.get(6)?,
        priority: r.get(7)?,
        t_s: r.get(8)?,
        opened_ms: r.get(9)?,
        updated_ms: r.get(10)?,
        repeats: r.get(11)?,
        state: r.get(12)?,
        claimed_by: r.get(13)?,
        resolved_by: r.get(14)?,
        note: r.get(15)?,
        team: r.get(16)?,
        agent: r.get(17)?,
        call_started_ms: r.get(18)?,
    })
}

/// The serialised `type` tag of an event.
pub fn event_type(b: &EventBody) -> String {
    serde_json::to_value(b)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
        .unwrap_or_else(|| "unknown".into())
}

fn audit(
    conn: &Connection,
    at: i64,
    actor: &str,
    action: &str,
    alert: Option<i64>,
    call: Option<&str>,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit(at_ms, actor, action, alert, call, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![at, actor, action, alert, call, detail],
    )?;
    Ok(())
}

/// Queue a step for the floor's other hubs (when shared), in the step's own transaction.
#[allow(clippy::too_many_arguments)]
fn queue_step(
    tx: &Connection,
    path: &Path,
    origin: Option<&FloorOrigin>,
    cur: &StepTarget,
    step: FloorStep,
    user: &str,
    note: Option<&str>,
    at_ms: i64,
) -> Result<()> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let action = FloorAction {
        id: super::auth::secret("step_")?[..29].to_string(),
        origin: origin.id.clone(),
        hub: origin.hub.clone(),
        event: cur.event_id.clone(),
        call: cur.call.clone(),
        kind: cur.kind.clone(),
        step,
        user: user.to_string(),
        note: note.map(str::to_string),
        at_ms,
    };
    let body = serde_json::to_string(&action).unwrap_or_default();
    exec(
        tx,
        "INSERT INTO floor_outbox(id, body) VALUES (?1, ?2)",
        params![action.id, body],
    )
    .map_err(|e| db_err(path, e))?;
    Ok(())
}

/// What a step needs to know of its alert.
struct StepTarget {
    id: i64,
    call: String,
    kind: String,
    event_id: Option<String>,
    state: String,
    claimed_by: Option<String>,
    step_ms: Option<i64>,
    resolved_ms: Option<i64>,
    resolved_by: Option<String>,
}

const STEP_SELECT: &str =
    "SELECT id, call, kind, event_id, state, claimed_by, step_ms, resolved_ms,
    resolved_by FROM alerts";

fn step_row(r: &rusqlite::Row) -> rusqlite::Result<StepTarget> {
    Ok(StepTarget {
        id: r.get(0)?,
        call: r.get(1)?,
        kind: r.get(2)?,
        event_id: r.get(3)?,
        state: r.get(4)?,
        claimed_by: r.get(5)?,
        step_ms: r.get(6)?,
        resolved_ms: r.get(7)?,
        resolved_by: r.get(8)?,
    })
}

fn step_target(tx: &Connection, id: i64) -> rusqlite::Result<Option<StepTarget>> {
    tx.query_row(
        &format!("{STEP_SELECT} WHERE id = ?1"),
        params![id],
        step_row,
    )
    .optional()
}

/// Claim for `user`, or give back (`None`), as of `at_ms`.
fn set_claim(tx: &Connection, id: i64, user: Option<&str>, at_ms: i64) -> rusqlite::Result<()> {
    let sql = match user {
        Some(_) => {
            "UPDATE alerts SET state = 'claimed', claimed_by = ?2, claimed_ms = ?3, step_ms = ?3
             WHERE id = ?1"
        }
        None => {
            "UPDATE alerts SET state = 'open', claimed_by = ?2, claimed_ms = NULL, step_ms = ?3
             WHERE id = ?1"
        }
    };
    exec(tx, sql, params![id, user, at_ms]).map(|_| ())
}

fn set_resolved(
    tx: &Connection,
    id: i64,
    user: &str,
    at_ms: i64,
    note: Option<&str>,
) -> rusqlite::Result<()> {
    exec(
        tx,
        // Whoever held it then; the resolver when nobody did (`claimed_ms` is set only while
        // claimed), so an earlier resolution arriving later gives the same answer.
        "UPDATE alerts SET state = 'resolved', resolved_by = ?2, resolved_ms = ?3, note = ?4,
         claimed_by = CASE WHEN claimed_ms IS NOT NULL THEN claimed_by ELSE ?2 END WHERE id = ?1",
        params![id, user, at_ms, note],
    )
    .map(|_| ())
}

/// See [`Store::apply_floor`].
fn apply_floor(tx: &Connection, a: &FloorAction) -> rusqlite::Result<Option<i64>> {
    let cur = match &a.event {
        Some(e) => tx
            .query_row(
                &format!("{STEP_SELECT} WHERE event_id = ?1"),
                params![e],
                step_row,
            )
            .optional()?,
        // Raised by a hub itself (a silent station): each hub raises its own; the latest of
        // that call and kind is the one.
        None => tx
            .query_row(
                &format!(
                    "{STEP_SELECT} WHERE call = ?1 AND kind = ?2 AND event_id IS NULL
                     ORDER BY id DESC LIMIT 1"
                ),
                params![a.call, a.kind],
                step_row,
            )
            .optional()?,
    };
    let Some(cur) = cur else {
        if let Some(e) = &a.event {
            // The alert's event has not reached this hub yet: kept until it does.
            exec(
                tx,
                "INSERT OR IGNORE INTO floor_pending(id, event_id, body, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    a.id,
                    e,
                    serde_json::to_string(a).unwrap_or_default(),
                    a.at_ms
                ],
            )?;
        }
        return Ok(None);
    };
    let detail = |extra: Option<&str>| match extra {
        Some(n) => format!("{n} (on hub {})", a.hub),
        None => format!("on hub {}", a.hub),
    };
    match a.step {
        FloorStep::Claim | FloorStep::Unclaim => {
            let newer = match cur.step_ms {
                None => true,
                Some(s) => {
                    a.at_ms > s
                        || (a.at_ms == s
                            && a.user.as_str() > cur.claimed_by.as_deref().unwrap_or(""))
                }
            };
            if !newer {
                return Ok(None);
            }
            let claim = a.step == FloorStep::Claim;
            let what = if claim { "claimed" } else { "unclaimed" };
            if cur.state == "resolved" {
                // Taken before the resolution (it only arrived later): who had it then is
                // who had it when it was resolved, as on the hubs that saw it in order.
                if cur.resolved_ms.is_none_or(|r| a.at_ms >= r) {
                    return Ok(None);
                }
                let holder = if claim {
                    Some(a.user.as_str())
                } else {
                    cur.resolved_by.as_deref()
                };
                exec(
                    tx,
                    "UPDATE alerts SET claimed_by = ?2, claimed_ms = ?4, step_ms = ?3 WHERE id = ?1",
                    params![cur.id, holder, a.at_ms, claim.then_some(a.at_ms)],
                )?;
            } else {
                set_claim(tx, cur.id, claim.then_some(a.user.as_str()), a.at_ms)?;
            }
            audit(
                tx,
                a.at_ms,
                &a.user,
                what,
                Some(cur.id),
                None,
                Some(&detail(None)),
            )?;
        }
        FloorStep::Resolve => {
            let earlier = cur.state != "resolved" || cur.resolved_ms.is_some_and(|r| a.at_ms < r);
            if !earlier {
                return Ok(None);
            }
            set_resolved(tx, cur.id, &a.user, a.at_ms, a.note.as_deref())?;
            audit(
                tx,
                a.at_ms,
                &a.user,
                "resolved",
                Some(cur.id),
                None,
                Some(&detail(a.note.as_deref())),
            )?;
        }
    }
    Ok(Some(cur.id))
}

/// Steps other hubs took on the alert `event_id` just raised here, before it was.
fn apply_pending(tx: &Connection, event_id: &str) -> rusqlite::Result<()> {
    let bodies: Vec<String> = {
        let mut st =
            tx.prepare_cached("SELECT body FROM floor_pending WHERE event_id = ?1 ORDER BY at_ms")?;
        st.query_map(params![event_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    if bodies.is_empty() {
        return Ok(());
    }
    exec(
        tx,
        "DELETE FROM floor_pending WHERE event_id = ?1",
        params![event_id],
    )?;
    for b in bodies {
        if let Ok(a) = serde_json::from_str::<FloorAction>(&b) {
            apply_floor(tx, &a)?;
        }
    }
    Ok(())
}

/// Open an alert, or update the open one of the same call and kind (a repeat updates instead
/// of adding noise). Returns its id.
#[allow(clippy::too_many_arguments)]
fn open_alert(
    tx: &Connection,
    call: &str,
    event_id: Option<&str>,
    kind: &str,
    headline: &str,
    reason: &str,
    snippet: Option<&str>,
    priority: i64,
    t_s: f64,
    now: i64,
    actor: &str,
) -> rusqlite::Result<i64> {
    let open: Option<i64> = tx
        .query_row(
            "SELECT id FROM alerts WHERE call = ?1 AND kind = ?2 AND state != 'resolved'",
            params![call, kind],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        exec(
            tx,
            "UPDATE alerts SET headline = ?2, reason = ?3, snippet = COALESCE(?4, snippet),
             updated_ms = ?5, repeats = repeats + 1 WHERE id = ?1",
            params![id, headline, reason, snippet, now],
        )?;
        audit(tx, now, actor, "repeated", Some(id), Some(call), event_id)?;
        return Ok(id);
    }
    exec(
        tx,
        "INSERT INTO alerts(call, event_id, kind, headline, reason, snippet, priority, t_s,
         opened_ms, updated_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 'open')",
        params![
            call, event_id, kind, headline, reason, snippet, priority, t_s, now
        ],
    )?;
    let id = tx.last_insert_rowid();
    audit(tx, now, actor, "raised", Some(id), Some(call), event_id)?;
    if let Some(e) = event_id {
        apply_pending(tx, e)?;
    }
    Ok(id)
}

/// Apply one new monitor event to its call and alerts.
/// Execute a statement prepared once per connection (the hub runs the same few thousands of
/// times a second).
fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// One row of a statement prepared once per connection.
fn row1<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

fn apply(
    tx: &Connection,
    station: &Station,
    env: &Envelope,
    now: i64,
    redactor: &Redactor,
    changes: &mut Changes,
) -> rusqlite::Result<()> {
    let agent = match &env.event.body {
        EventBody::CallStart { agent } => agent.as_str(),
        _ => station.name.as_str(),
    };
    exec(
        tx,
        "INSERT OR IGNORE INTO calls(id, station, team, agent, started_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![env.call, station.name, station.team, agent, now],
    )?;
    // A monitor that comes back is no longer silent.
    exec(
        tx,
        "UPDATE calls SET last_ms = ?2, duration_s = MAX(duration_s, ?3), silent = 0 WHERE id = ?1",
        params![env.call, now, env.event.t_s],
    )?;
    let mut changed = false;
    match &env.event.body {
        EventBody::CallStart { agent } => {
            exec(
                tx,
                "UPDATE calls SET agent = ?2 WHERE id = ?1",
                params![env.call, agent],
            )?;
            changed = true;
        }
        EventBody::CallEnd { duration_s } => {
            exec(
                tx,
                "UPDATE calls SET ended_ms = ?2, duration_s = ?3, escalated = 0 WHERE id = ?1",
                params![env.call, now, duration_s],
            )?;
            changed = true;
        }
        EventBody::Levels(l) if l.speaker == Speaker::Customer => {
            let (trend, escalated, since): (String, bool, Option<i64>) = row1(
                tx,
                "SELECT trend, escalated, escalated_since_ms FROM calls WHERE id = ?1",
                params![env.call],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let mut t: Vec<f32> = serde_json::from_str(&trend).unwrap_or_default();
            t.push((l.escalation * 100.0).round() / 100.0);
            if t.len() > TREND_POINTS {
                t.drain(..t.len() - TREND_POINTS);
            }
            let since = match (l.escalated, escalated) {
                (true, false) => Some(now),
                (true, true) => since,
                _ => None,
            };
            exec(tx,
                "UPDATE calls SET level = ?2, peak = MAX(peak, ?2), escalated = ?3, escalated_since_ms = ?4,
                 trend = ?5 WHERE id = ?1",
                params![
                    env.call,
                    l.escalation as f64,
                    l.escalated,
                    since,
                    serde_json::to_string(&t).unwrap_or_else(|_| "[]".into())
                ],
            )?;
            changed = true;
        }
        EventBody::Transcript(s) if s.speaker == Speaker::Customer => {
            // Monitors redact already; the hub redacts again, so no number reaches the page
            // even from a monitor configured otherwise.
            let text = redactor.text(&s.text);
            exec(
                tx,
                "UPDATE calls SET snippet = ?2 WHERE id = ?1",
                params![env.call, text],
            )?;
            changed = true;
        }
        EventBody::Status(st) => {
            let capturing = st.devices.iter().all(|d| d.connected);
            exec(
                tx,
                "UPDATE calls SET capturing = ?2, dropped_samples = ?3 WHERE id = ?1",
                params![env.call, capturing, st.dropped_samples as i64],
            )?;
            changed = true;
        }
        EventBody::Warning { message } if crate::language::roles::questions_the_sides(message) => {
            exec(
                tx,
                "UPDATE calls SET sides_in_doubt = 1 WHERE id = ?1",
                params![env.call],
            )?;
            changed = true;
        }
        EventBody::Alert(a) => {
            let snippet = a.snippet.as_deref().map(|s| redactor.text(s));
            let id = open_alert(
                tx,
                &env.call,
                Some(&env.id),
                a.kind.name(),
                &a.headline,
                &a.evidence.sentence,
                snippet.as_deref(),
                a.priority as i64,
                env.event.t_s,
                now,
                &format!("station:{}", station.name),
            )?;
            changes.alerts.push(id);
            changed = true;
        }
        _ => {}
    }
    if changed {
        changes.calls.push(env.call.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    fn env(call: &str, seq: u64, body: EventBody) -> Envelope {
        Envelope {
            id: format!("{call}/{seq}"),
            call: call.into(),
            seq,
            sent_ms: 0,
            event: Event {
                t_s: seq as f64,
                body,
            },
        }
    }

    #[test]
    fn events_are_stored_once_and_a_silent_monitor_raises_one_alert() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("h.sqlite")).unwrap();
        let red = Redactor::new(crate::Config::default().phrase_set());
        let st = Station {
            name: "desk".into(),
            team: "red".into(),
            revoked: false,
        };
        let start = env(
            "c1",
            0,
            EventBody::CallStart {
                agent: "ann".into(),
            },
        );
        let (fresh, ch) = s
            .ingest(&[(st.clone(), start.clone()), (st.clone(), start)], &red)
            .unwrap();
        assert_eq!(fresh, vec![true, false]);
        assert_eq!(ch.calls, vec!["c1".to_string()]);
        let said = EventBody::Transcript(crate::events::TranscriptSegment {
            speaker: Speaker::Customer,
            start_s: 0.0,
            end_s: 1.0,
            text: "my card is 4111 1111 1111 1111".into(),
            words: vec![],
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            fallback: None,
            repaired: false,
        });
        s.ingest(&[(st.clone(), env("c1", 1, said))], &red).unwrap();
        let c = s.call("c1").unwrap().unwrap();
        assert_eq!(c.agent, "ann");
        // The hub redacts again, whatever the monitor sent.
        assert_eq!(c.snippet.as_deref(), Some("my card is [card]"));
        std::thread::sleep(std::time::Duration::from_millis(5));
        let ch = s.mark_silent(0).unwrap();
        assert_eq!(ch.alerts.len(), 1);
        assert!(s.call("c1").unwrap().unwrap().silent);
        // Still silent: no second alert.
        assert!(s.mark_silent(0).unwrap().alerts.is_empty());
        let a = s.alerts(&Filter::default()).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "station_silent");
        assert_eq!(s.audit_of(a[0].id).unwrap()[0].actor, "hub");
        // Retention: nothing is old enough at 1 day; at 0 days the call and its alert go.
        assert_eq!(s.purge(1).unwrap(), 0);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(s.purge(0).unwrap(), 1);
        assert!(s.call("c1").unwrap().is_none());
        assert!(s.alerts(&Filter::default()).unwrap().is_empty());
        assert!(s.event_ids("c1", "call_start").unwrap().is_empty());
    }

    /// Two hubs' stores: a call with one escalation alert, raised by the same event on both.
    fn floor_of_two() -> (tempfile::TempDir, Store, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut stores = Vec::new();
        for name in ["a", "b"] {
            let mut s = Store::open(&dir.path().join(format!("{name}.sqlite"))).unwrap();
            s.share_steps(&format!("hub-{name}")).unwrap();
            raise(&mut s);
            stores.push(s);
        }
        let b = stores.pop().unwrap();
        let a = stores.pop().unwrap();
        (dir, a, b)
    }

    /// The call `c1` starts and raises an escalation alert (event `c1/1`).
    fn raise(s: &mut Store) {
        let red = Redactor::new(crate::Config::default().phrase_set());
        let st = Station {
            name: "lyon.desk".into(),
            team: "lyon".into(),
            revoked: false,
        };
        let alert = EventBody::Alert(crate::events::Alert {
            kind: AlertKind::EscalatedCall,
            headline: "h".into(),
            priority: 2,
            evidence: crate::events::Because {
                figures: Default::default(),
                moments: vec![],
                sentence: "s".into(),
            },
            snippet: None,
            agent: None,
        });
        let start = env(
            "c1",
            0,
            EventBody::CallStart {
                agent: "ann".into(),
            },
        );
        s.ingest(&[(st.clone(), start), (st, env("c1", 1, alert))], &red)
            .unwrap();
    }

    fn only_alert(s: &Store) -> AlertRow {
        let mut a = s.alerts(&Filter::default()).unwrap();
        assert_eq!(a.len(), 1);
        a.pop().unwrap()
    }

    #[test]
    fn steps_shared_between_hubs_end_the_same_whatever_order_they_arrive_in() {
        let (_dir, mut a, mut b) = floor_of_two();
        let id_a = only_alert(&a).id;
        let id_b = only_alert(&b).id;
        assert_ne!(a.hub_id().unwrap(), b.hub_id().unwrap());
        // Sue claims on a, then Tom on b, then Sue resolves on a.
        a.claim(id_a, "sue", true).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        b.claim(id_b, "tom", true).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        a.resolve(id_a, "sue", Some("called back")).unwrap();
        let from_a = a.floor_outbox(10).unwrap();
        let from_b = b.floor_outbox(10).unwrap();
        assert_eq!((from_a.len(), from_b.len()), (2, 1));
        assert_eq!(from_a[0].event.as_deref(), Some("c1/1"));
        // Delivered in the worst order: a's steps reach b after b's own claim (already
        // applied there), and b's claim reaches a after a's resolution.
        for s in from_a.iter().rev() {
            b.apply_floor(s).unwrap();
        }
        a.apply_floor(&from_b[0]).unwrap();
        for s in [&a, &b] {
            let e = only_alert(s);
            assert_eq!(
                (
                    e.state.as_str(),
                    e.claimed_by.as_deref(),
                    e.resolved_by.as_deref()
                ),
                ("resolved", Some("tom"), Some("sue")),
                "{}",
                s.path().display()
            );
            assert_eq!(e.note.as_deref(), Some("called back"));
        }
        // Sent ones leave the outbox; the same step again changes nothing.
        for x in &from_a {
            a.floor_sent(&x.id).unwrap();
        }
        assert!(a.floor_outbox(10).unwrap().is_empty());
        assert_eq!(b.apply_floor(&from_a[1]).unwrap(), None);
        // A hub's own store is not shared unless asked: a plain store queues nothing.
        let dir = tempfile::tempdir().unwrap();
        let plain = Store::open(&dir.path().join("p.sqlite")).unwrap();
        assert!(plain.floor_outbox(10).unwrap().is_empty());
    }

    #[test]
    fn a_step_on_an_alert_not_raised_here_yet_waits_for_it() {
        let (_dir, mut a, _b) = floor_of_two();
        let id = only_alert(&a).id;
        a.claim(id, "sue", true).unwrap();
        let step = a.floor_outbox(1).unwrap().remove(0);
        // A third hub that has not read the call's events yet.
        let dir = tempfile::tempdir().unwrap();
        let mut c = Store::open(&dir.path().join("c.sqlite")).unwrap();
        assert_eq!(c.apply_floor(&step).unwrap(), None);
        // Raising it there (the same events) applies the waiting step.
        raise(&mut c);
        let e = only_alert(&c);
        assert_eq!(
            (e.state.as_str(), e.claimed_by.as_deref()),
            ("claimed", Some("sue"))
        );
        let pending: i64 = c
            .conn
            .query_row("SELECT COUNT(*) FROM floor_pending", [], |r| r.get(0))
            .unwrap();
        assert_eq!(pending, 0);
    }

    #[test]
    fn a_monitor_whose_sides_look_swapped_marks_its_call_and_old_stores_gain_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        // A store from before the column: the calls table without it.
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE calls(id TEXT PRIMARY KEY, station TEXT NOT NULL, team TEXT NOT NULL,
                 agent TEXT NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER,
                 last_ms INTEGER NOT NULL, duration_s REAL NOT NULL DEFAULT 0,
                 level REAL NOT NULL DEFAULT 0, peak REAL NOT NULL DEFAULT 0,
                 escalated INTEGER NOT NULL DEFAULT 0, escalated_since_ms INTEGER,
                 trend TEXT NOT NULL DEFAULT '[]', snippet TEXT,
                 capturing INTEGER NOT NULL DEFAULT 1, silent INTEGER NOT NULL DEFAULT 0,
                 dropped_samples INTEGER NOT NULL DEFAULT 0);
                 INSERT INTO calls(id, station, team, agent, started_ms, last_ms)
                 VALUES ('old', 'desk', 'red', 'bo', 0, 0);",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert!(!s.call("old").unwrap().unwrap().sides_in_doubt);
        drop(s);
        // Opening again does not add it twice.
        let mut s = Store::open(&path).unwrap();
        let red = Redactor::new(crate::Config::default().phrase_set());
        let st = Station {
            name: "desk".into(),
            team: "red".into(),
            revoked: false,
        };
        let warn = |seq, message: &str| {
            env(
                "c2",
                seq,
                EventBody::Warning {
                    message: message.into(),
                },
            )
        };
        let other = warn(0, "device x stopped delivering audio; reconnecting");
        s.ingest(&[(st.clone(), other)], &red).unwrap();
        assert!(!s.call("c2").unwrap().unwrap().sides_in_doubt);
        let sides = warn(
            1,
            &format!(
                "{} (3 phrases against 0): the customer looks to be on the left channel",
                crate::report::SIDES_SWAPPED
            ),
        );
        let (_, ch) = s.ingest(&[(st, sides)], &red).unwrap();
        assert_eq!(ch.calls, vec!["c2".to_string()]);
        assert!(s.call("c2").unwrap().unwrap().sides_in_doubt);
    }

    #[test]
    fn dates_parse_to_utc_milliseconds() {
        assert_eq!(parse_when("1970-01-01", false), Some(0));
        assert_eq!(parse_when("1970-01-02", false), Some(86_400_000));
        assert_eq!(parse_when("2026-11-25", false), Some(1_795_564_800_000));
        assert_eq!(parse_when("2026-11-25", true), Some(1_795_651_199_999));
        assert_eq!(parse_when("12345", false), Some(12345));
        assert_eq!(parse_when("2026-13-01", false), None);
        assert_eq!(parse_when("soon", false), None);
    }
}
