//! Scratch directories for the durable subjects and experiments: made
//! under a base directory (the `durable` subcommand's `--dir`, by default
//! the system's temporary directory), never in the working tree, and
//! removed with everything in them when dropped.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory that is removed, with its contents, when dropped. Whatever
/// holds files open in it must be dropped first (declare the
/// `Scratch` field last: fields drop in declaration order).
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

/// Tells apart the scratch directories of one process.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Scratch {
    /// A fresh, empty directory `multiverse-driver-<pid>-<n>-<what>` under
    /// `base`.
    pub fn new(base: &Path, what: &str) -> io::Result<Scratch> {
        // Relaxed: a counter that only has to be unique.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!(
            "multiverse-driver-{}-{n}-{what}",
            std::process::id()
        ));
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path)?;
        Ok(Scratch { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of every file under the directory.
    pub fn bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_directory_counts_its_bytes_and_is_gone_once_dropped() {
        let scratch = Scratch::new(&std::env::temp_dir(), "test").unwrap();
        let path = scratch.path().to_path_buf();
        std::fs::create_dir(path.join("sub")).unwrap();
        std::fs::write(path.join("a"), [0u8; 100]).unwrap();
        std::fs::write(path.join("sub/b"), [0u8; 28]).unwrap();
        assert_eq!(scratch.bytes(), 128);
        drop(scratch);
        assert!(!path.exists());
    }
}
