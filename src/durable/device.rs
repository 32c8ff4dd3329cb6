//! SCAFFOLD (replaced by the `log` branch).
#![allow(dead_code, missing_docs)]
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub(crate) trait Dir: Send + Sync {
    fn list(&self) -> io::Result<Vec<String>>;
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>>;
    fn open_append(&self, name: &str) -> io::Result<Box<dyn LogFile>>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    fn sync_dir(&self) -> io::Result<()>;
}
pub(crate) trait LogFile: Send {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn sync(&mut self) -> io::Result<()>;
    fn len(&self) -> u64;
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}
pub(crate) struct FsDir { path: PathBuf }
impl FsDir {
    pub(crate) fn open(path: &Path) -> io::Result<FsDir> { std::fs::create_dir_all(path)?; Ok(FsDir { path: path.into() }) }
}
struct F(std::fs::File, u64);
impl LogFile for F {
    fn append(&mut self, b: &[u8]) -> io::Result<()> { self.0.write_all(b)?; self.1 += b.len() as u64; Ok(()) }
    fn sync(&mut self) -> io::Result<()> { self.0.sync_data() }
    fn len(&self) -> u64 { self.1 }
    fn truncate(&mut self, len: u64) -> io::Result<()> { self.0.set_len(len)?; self.1 = len; Ok(()) }
}
impl Dir for FsDir {
    fn list(&self) -> io::Result<Vec<String>> { let mut v = vec![]; for e in std::fs::read_dir(&self.path)? { v.push(e?.file_name().to_string_lossy().into_owned()) } Ok(v) }
    fn read(&self, name: &str) -> io::Result<Vec<u8>> { std::fs::read(self.path.join(name)) }
    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>> { Ok(Box::new(F(std::fs::File::create(self.path.join(name))?, 0))) }
    fn open_append(&self, name: &str) -> io::Result<Box<dyn LogFile>> { let f = std::fs::OpenOptions::new().append(true).open(self.path.join(name))?; let l = f.metadata()?.len(); Ok(Box::new(F(f, l))) }
    fn rename(&self, a: &str, b: &str) -> io::Result<()> { std::fs::rename(self.path.join(a), self.path.join(b)) }
    fn remove(&self, name: &str) -> io::Result<()> { std::fs::remove_file(self.path.join(name)) }
    fn sync_dir(&self) -> io::Result<()> { std::fs::File::open(&self.path)?.sync_all() }
}
