//! One error type for the library. Malformed input is an error value, never a panic.

use std::path::PathBuf;

/// Everything that can go wrong between a path on disk and a finished report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not audio calmline can decode, or its contents are damaged.
    #[error("{path}: {message}")]
    Decode {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it, in words a user can act on.
        message: String,
    },
    /// The audio decodes but cannot be analysed as a call (no samples, too many channels, ...).
    #[error("{path}: {message}")]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// Why, and what to do instead.
        message: String,
    },
    /// A configuration file is unreadable or holds an invalid value.
    #[error("config {path}: {message}")]
    Config {
        /// The configuration file (or `<built-in>`).
        path: PathBuf,
        /// The offending key and why.
        message: String,
    },
    /// A setting given on the command line or in code is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The hub's database failed.
    #[error("store {path}: {message}")]
    Store {
        /// The SQLite file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// A model file (speaker segmentation or embedding) is missing, damaged or of the wrong kind.
    #[error("model {path}: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Writing an output file failed; no partial file is left behind.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output that could not be written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Result alias used across calmline.
pub type Result<T, E = Error> = std::result::Result<T, E>;
