//! A supervisor at a hub's HTTP API, signed in as a browser would be.

use std::time::Duration;

use serde_json::Value;

/// An HTTP client that returns every status as is and follows no redirect.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A signed-in supervisor (session cookie and CSRF token) at one hub.
pub struct Supervisor {
    pub cookie: String,
    pub csrf: String,
    pub base: String,
}

impl Supervisor {
    /// Sign in at the hub at `base` as `name`, whose password is `pw-NAME-secret`.
    pub fn login(base: &str, name: &str) -> Self {
        let r = agent()
            .post(&format!("{base}/login"))
            .send_form([
                ("username", name),
                ("password", &format!("pw-{name}-secret")),
            ])
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "login of {name}");
        let cookie = r
            .headers()
            .get("set-cookie")
            .expect("a session cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let mut s = Supervisor {
            cookie,
            csrf: String::new(),
            base: base.to_string(),
        };
        s.csrf = s.get("/api/me")["csrf"].as_str().unwrap().to_string();
        s
    }

    pub fn get(&self, path: &str) -> Value {
        let mut r = agent()
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let mut r = agent()
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    pub fn post(&self, path: &str, body: &str, csrf: bool) -> (u16, String) {
        let mut req = agent()
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .content_type("application/json");
        if csrf {
            req = req.header("X-CSRF-Token", &self.csrf);
        }
        let mut r = req.send(body).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
}
