//! Secrets: station tokens, supervisors' passwords, session ids and CSRF tokens.
//!
//! Station tokens and session ids are 256-bit random values, so a fast hash (SHA-256) is enough
//! to store them: nothing can be guessed from it. Passwords are chosen by people and get
//! argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::Digest;

use crate::error::{Error, Result};

/// A new random secret with a prefix naming what it is (`clst_` station token, ...), 64 hex
/// digits after it.
pub fn secret(prefix: &str) -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Invalid(format!("the system's random source failed: {e}")))?;
    Ok(format!("{prefix}{}", hex(&b)))
}

/// SHA-256 of a secret, hex: what the store keeps.
pub fn digest(secret: &str) -> String {
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// argon2id hash of a password (PHC string with its salt).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::Invalid(format!("the system's random source failed: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::Invalid(format!("cannot encode a salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches a stored hash (a malformed hash never matches).
pub fn check_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Compare two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_stored_hashed() {
        let a = secret("clst_").unwrap();
        let b = secret("clst_").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("clst_") && a.len() == 5 + 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert!(!digest(&a).contains(&a[5..]));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(check_password("correct horse", &h));
        assert!(!check_password("correct horse ", &h));
        assert!(!check_password("correct horse", "not a hash"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
