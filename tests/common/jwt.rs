//! NATS decentralised authentication for the tests, without `nsc`: an operator, accounts and
//! users as nkeys, their claims signed as NATS JWTs (v2), and `.creds` files as nsc writes them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

/// A NATS JWT: `header.claims.signature`, each base64url without padding, the signature the
/// issuer's ed25519 signature of the first two parts.
fn sign(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    // The id is a hash of the claims without it (nsc's is base32; the server only keeps it).
    use sha2::Digest;
    let digest = sha2::Sha512_256::digest(claims.to_string().as_bytes());
    claims["jti"] = json!(URL_SAFE_NO_PAD.encode(digest));
    let body = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = issuer.sign(body.as_bytes()).unwrap();
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An operator: the root of trust the server is configured with.
pub struct Operator {
    key: KeyPair,
    /// Its self-signed JWT (the server's `operator`).
    pub jwt: String,
}

impl Operator {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::new_operator();
        let jwt = sign(
            &key,
            &key.public_key(),
            name,
            json!({"type": "operator", "version": 2}),
        );
        Self { key, jwt }
    }

    /// An account signed by this operator, with JetStream and no other limits.
    pub fn account(&self, name: &str) -> Account {
        self.signed_account(name, -1)
    }

    /// The server's own account (the server needs one to run JetStream): no JetStream.
    pub fn system_account(&self) -> Account {
        self.signed_account("SYS", 0)
    }

    fn signed_account(&self, name: &str, storage: i64) -> Account {
        let key = KeyPair::new_account();
        let jwt = sign(
            &self.key,
            &key.public_key(),
            name,
            json!({
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": storage, "disk_storage": storage, "streams": storage,
                    "consumer": storage
                },
                "default_permissions": {"pub": {}, "sub": {}},
                "type": "account",
                "version": 2
            }),
        );
        Account { key, jwt }
    }
}

/// An account: its users are whoever it signs a JWT for.
pub struct Account {
    key: KeyPair,
    /// Its JWT (preloaded into the server's resolver).
    pub jwt: String,
}

impl Account {
    /// The account's public key (the resolver's key for [`Account::jwt`]).
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// A `.creds` file's text for a new user allowed to publish to `publish` (everything when
    /// empty) and to receive on `_INBOX.>`, as `nsc generate creds` writes it.
    pub fn creds(&self, name: &str, publish: &[&str]) -> String {
        let user = KeyPair::new_user();
        let mut nats = json!({
            "sub": {"allow": ["_INBOX.>"]},
            "subs": -1, "data": -1, "payload": -1,
            "type": "user",
            "version": 2
        });
        nats["pub"] = if publish.is_empty() {
            json!({})
        } else {
            json!({ "allow": publish })
        };
        let jwt = sign(&self.key, &user.public_key(), name, nats);
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            user.seed().unwrap()
        )
    }
}
