//! The supervisors' pages, embedded in the binary (no CDN, no asset files to deploy).

/// The sign-in form (`{{error}}` is replaced by a message after a failed attempt).
pub const LOGIN: &str = include_str!("page/login.html");

/// The floor view: live tiles, the alerts inbox, history.
pub const FLOOR: &str = include_str!("page/floor.html");
