//! All-or-nothing output: files are written beside their destination and renamed into place, so
//! a failure (or Ctrl-C) never leaves a half-written report.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Write every `(path, bytes)` pair, or none of them.
pub fn write_all_or_nothing(files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    let mut temps: Vec<(PathBuf, &Path)> = Vec::new();
    let cleanup = |temps: &[(PathBuf, &Path)]| {
        for (t, _) in temps {
            let _ = std::fs::remove_file(t);
        }
    };
    for (path, bytes) in files {
        let tmp = temp_name(path);
        let res = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(source) = res {
            let _ = std::fs::remove_file(&tmp);
            cleanup(&temps);
            return Err(Error::Write {
                path: path.clone(),
                source,
            });
        }
        temps.push((tmp, path.as_path()));
    }
    for (i, (tmp, path)) in temps.iter().enumerate() {
        if let Err(source) = std::fs::rename(tmp, path) {
            cleanup(&temps[i..]);
            return Err(Error::Write {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    Ok(())
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("a.json");
        let bad = dir.path().join("missing-dir").join("b.html");
        let err = write_all_or_nothing(&[(ok.clone(), b"{}".to_vec()), (bad, b"x".to_vec())]);
        assert!(err.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        write_all_or_nothing(&[(ok.clone(), b"{}".to_vec())]).unwrap();
        assert_eq!(std::fs::read(&ok).unwrap(), b"{}");
    }
}
