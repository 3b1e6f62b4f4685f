//! Failed sign-ins slow down whoever makes them: a name that keeps failing is locked for a
//! while, each lock twice as long as the one before, and so is an address that tries many
//! names. Password guessing then costs hours, not seconds.
//!
//! The name is locked whether or not such a supervisor exists, so a lock tells nothing about
//! which names are real. The state is in memory: a hub restart clears it (a lock is minutes
//! long, and a guesser gains a handful of tries per restart).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// When sign-ins are refused (`[hub] login_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures of one name, in a row, that lock it.
    pub per_name: u32,
    /// Failures from one address (any names) within `window` that lock the address.
    pub per_address: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// The first lock; each further lock of the same name or address doubles it.
    pub lock: Duration,
    /// The longest lock.
    pub lock_max: Duration,
}

/// Entries kept at most per table; beyond it the least recently failing unlocked ones go
/// (names are whatever a client posts, so the table must not grow without bound).
const ENTRIES_MAX: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
    /// Locks so far within the window (sets the next lock's length).
    locks: u32,
}

/// Failed sign-ins by name and by address.
#[derive(Debug)]
pub struct SignInGuard {
    limits: Limits,
    names: HashMap<String, Strikes>,
    addresses: HashMap<IpAddr, Strikes>,
}

/// A sign-in attempt allowed to check its password. It is charged as a failure up front, so
/// that many attempts at once cannot all slip in before the first one fails; call
/// [`SignInGuard::succeeded`] when the password matched.
#[derive(Debug)]
pub struct Attempt {
    name: String,
    address: IpAddr,
    /// Whether this attempt locked the address (undone if it succeeds).
    locked_address: bool,
    /// The lock this attempt starts if its password is wrong: it was the last try allowed.
    pub lock: Option<Duration>,
}

/// An attempt refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    /// How long until the lock ends.
    pub retry_after: Duration,
}

impl SignInGuard {
    /// An empty guard with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            names: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// Whether `name` may try to sign in from `address` now; if so the attempt is charged as a
    /// failure until [`Self::succeeded`] says otherwise, and the attempt that reaches a limit
    /// locks the name or address for the attempts after it.
    pub fn begin(&mut self, name: &str, address: IpAddr, now: Instant) -> Result<Attempt, Refusal> {
        let name = key(name);
        let l = self.limits;
        let wait = |s: Option<&Strikes>| {
            s.and_then(|s| s.locked_until)
                .filter(|&u| u > now)
                .map(|u| u - now)
        };
        if let Some(w) = wait(self.names.get(&name)).max(wait(self.addresses.get(&address))) {
            return Err(Refusal { retry_after: w });
        }
        let by_name = charge(&mut self.names, name.clone(), l.per_name, &l, now);
        let by_address = charge(&mut self.addresses, address, l.per_address, &l, now);
        Ok(Attempt {
            name,
            address,
            locked_address: by_address.is_some(),
            lock: by_name.max(by_address),
        })
    }

    /// The attempt's password matched: the name starts afresh, and the address gets this
    /// attempt's charge back (not its earlier failures, or one valid account would let an
    /// address guess other names without end).
    pub fn succeeded(&mut self, a: Attempt) {
        self.names.remove(&a.name);
        if let Some(s) = self.addresses.get_mut(&a.address) {
            if a.locked_address {
                s.locked_until = None;
                s.locks = s.locks.saturating_sub(1);
                s.failures = self.limits.per_address.saturating_sub(1);
            } else {
                s.failures = s.failures.saturating_sub(1);
            }
        }
    }

    /// Names and addresses currently remembered (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.names.len() + self.addresses.len()
    }
}

/// Names are looked up as the store compares them, but a client may post anything: keep at
/// most 64 characters of it.
fn key(name: &str) -> String {
    name.trim().chars().take(64).collect()
}

/// Count one failure; `Some(lock)` when it reaches `limit`.
fn charge<K: Hash + Eq + Clone>(
    table: &mut HashMap<K, Strikes>,
    k: K,
    limit: u32,
    l: &Limits,
    now: Instant,
) -> Option<Duration> {
    if !table.contains_key(&k) && table.len() >= ENTRIES_MAX {
        make_room(table, now, l.window);
    }
    let s = table.entry(k).or_insert(Strikes {
        failures: 0,
        last: now,
        locked_until: None,
        locks: 0,
    });
    if now.duration_since(s.last) > l.window {
        // Quiet for a whole window: forgiven, locks included.
        *s = Strikes {
            failures: 0,
            last: now,
            locked_until: None,
            locks: 0,
        };
    }
    s.failures += 1;
    s.last = now;
    if s.failures < limit {
        return None;
    }
    let lock = l
        .lock
        .saturating_mul(1u32 << s.locks.min(20))
        .min(l.lock_max);
    s.locks += 1;
    s.failures = 0;
    s.locked_until = Some(now + lock);
    // A lock is remembered at least as long as it lasts.
    s.last = now + lock;
    Some(lock)
}

/// Forget entries quiet for a window; if that frees nothing, the oldest unlocked half.
fn make_room<K: Hash + Eq + Clone>(
    table: &mut HashMap<K, Strikes>,
    now: Instant,
    window: Duration,
) {
    table.retain(|_, s| {
        s.locked_until.is_some_and(|u| u > now) || now.saturating_duration_since(s.last) <= window
    });
    if table.len() < ENTRIES_MAX {
        return;
    }
    let mut unlocked: Vec<(K, Instant)> = table
        .iter()
        .filter(|(_, s)| s.locked_until.is_none_or(|u| u <= now))
        .map(|(k, s)| (k.clone(), s.last))
        .collect();
    unlocked.sort_by_key(|(_, last)| *last);
    for (k, _) in unlocked.into_iter().take(ENTRIES_MAX / 2) {
        table.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_name: 5,
            per_address: 20,
            window: Duration::from_secs(900),
            lock: Duration::from_secs(60),
            lock_max: Duration::from_secs(900),
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    /// A wrong password: `Some(lock)` when it was the last try allowed.
    fn fail(g: &mut SignInGuard, name: &str, from: IpAddr, now: Instant) -> Option<Duration> {
        g.begin(name, from, now).expect("not locked yet").lock
    }

    #[test]
    fn a_name_failing_five_times_is_locked_and_each_lock_doubles() {
        let mut g = SignInGuard::new(limits());
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(fail(&mut g, "maria", A, t0), None);
        }
        assert_eq!(fail(&mut g, "maria", A, t0), Some(Duration::from_secs(60)));
        // Locked from any address, with the right password too: it is not even checked.
        let again = g
            .begin("maria", B, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(again.retry_after, Duration::from_secs(50));
        // Another name from the same address is not locked.
        assert!(g.begin("anna", A, t0).is_ok());
        // After the lock, five more failures lock it for twice as long.
        let t1 = t0 + Duration::from_secs(61);
        for _ in 0..4 {
            assert_eq!(fail(&mut g, "maria", A, t1), None);
        }
        assert_eq!(fail(&mut g, "maria", A, t1), Some(Duration::from_secs(120)));
    }

    #[test]
    fn locks_stop_growing_at_the_longest_and_a_quiet_window_forgives() {
        let mut g = SignInGuard::new(limits());
        let mut t = Instant::now();
        let mut last = Duration::ZERO;
        for _ in 0..8 {
            for _ in 0..4 {
                assert_eq!(fail(&mut g, "maria", A, t), None);
            }
            last = fail(&mut g, "maria", A, t).unwrap();
            t += last + Duration::from_secs(1);
        }
        assert_eq!(last, Duration::from_secs(900));
        // A window of quiet after the last lock ends: the next lock is the first length again.
        t += Duration::from_secs(901);
        for _ in 0..4 {
            assert_eq!(fail(&mut g, "maria", A, t), None);
        }
        assert_eq!(fail(&mut g, "maria", A, t), Some(Duration::from_secs(60)));
    }

    #[test]
    fn success_clears_the_name_but_not_the_address() {
        let mut g = SignInGuard::new(limits());
        let t = Instant::now();
        for _ in 0..4 {
            assert_eq!(fail(&mut g, "maria", A, t), None);
        }
        // The fifth try is the last allowed; its password is right, so no lock follows.
        let ok = g.begin("maria", A, t).unwrap();
        assert!(ok.lock.is_some());
        g.succeeded(ok);
        for _ in 0..4 {
            assert_eq!(fail(&mut g, "maria", A, t), None);
        }
        // The address keeps its 8 failures: 12 more names lock it (20 in all).
        for i in 0..11 {
            assert_eq!(fail(&mut g, &format!("guess{i}"), A, t), None);
        }
        assert!(fail(&mut g, "guess11", A, t).is_some());
        // Now the address is refused for every name, even one never tried; others are not.
        assert!(g.begin("carol", A, t).is_err());
        assert!(g.begin("carol", B, t).is_ok());
    }

    #[test]
    fn a_right_password_on_the_last_try_undoes_the_address_lock_it_started() {
        let mut g = SignInGuard::new(Limits {
            per_address: 3,
            ..limits()
        });
        let t = Instant::now();
        assert_eq!(fail(&mut g, "x", A, t), None);
        assert_eq!(fail(&mut g, "y", A, t), None);
        let ok = g.begin("maria", A, t).unwrap();
        assert!(ok.lock.is_some());
        g.succeeded(ok);
        // Not locked, but one more failure is the address's last try.
        assert!(fail(&mut g, "z", A, t).is_some());
        assert!(g.begin("maria", A, t).is_err());
    }

    #[test]
    fn attempts_at_once_are_charged_before_their_passwords_are_checked() {
        let mut g = SignInGuard::new(limits());
        let t = Instant::now();
        // Five attempts in flight, none answered yet: a sixth is refused.
        let held: Vec<_> = (0..5).map(|_| g.begin("maria", A, t).unwrap()).collect();
        assert!(g.begin("maria", A, t).is_err());
        drop(held);
    }

    #[test]
    fn posted_names_cannot_grow_the_tables_without_bound() {
        let mut g = SignInGuard::new(Limits {
            per_address: u32::MAX,
            ..limits()
        });
        let t = Instant::now();
        for i in 0..(ENTRIES_MAX + 10) {
            let _ = g.begin(&format!("n{i}"), A, t);
        }
        assert!(g.tracked() <= ENTRIES_MAX + 1, "{}", g.tracked());
        // Names longer than 64 characters are one name.
        let long = "x".repeat(200);
        let mut g = SignInGuard::new(limits());
        for i in 0..5 {
            let _ = g.begin(&format!("{long}{i}"), A, t);
        }
        assert!(g.begin(&long, B, t).is_err());
    }
}
