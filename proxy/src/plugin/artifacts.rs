//! The on-disk cache of compiled plugins: each one's compiled code in
//! `<dir>/<content digest>-<engine hash>.cwasm`, written once (atomically) and mapped from that
//! file at every load (wasmtime's `deserialize_file`). Its code pages are then the file's —
//! shared between processes, read on demand, dropped under memory pressure — instead of an
//! anonymous copy of all its code in each process (37 MB for a Python component, whose
//! interpreter a plugin mostly never runs).
//!
//! The directory is kept within [`MAX_BYTES`]: each use marks a file as recent, and storing a
//! new one removes the least recently used beyond the bound (a process still mapping a removed
//! file keeps its pages).
//!
//! Mapping compiled code runs whatever the file holds, so a file is used only when this user
//! owns it, it is a regular file (not a link) and neither it nor its directory is writable by
//! others, and when its contents still hash, with the digest of the plugin it was compiled
//! from, to the checksum stored beside it (`.sum`): a corrupted file, or another plugin's
//! compiled code copied over it, is compiled again instead of run. wasmtime also checks that it
//! was compiled by a compatible engine.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::compile::Digest;

/// Most bytes of compiled plugins kept in the directory.
const MAX_BYTES: u64 = 2 << 30;

/// Where compiled plugins are kept: `dir` as configured, or the per-user cache directory
/// (`$XDG_CACHE_HOME/wasmgate`, else `~/.cache/wasmgate`).
pub fn default_directory() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("wasmgate"))
}

/// The compiled component `bytes` (of `digest`): mapped from `dir` when compiled before, else
/// compiled, stored there and mapped.
pub fn component(
    engine: &Engine,
    dir: &Path,
    digest: &Digest,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let path = artifact_path(engine, dir, digest);
    if intact(&path, digest) {
        match map_component(engine, &path) {
            Ok(component) => {
                mark_used(&path);
                return Ok(component);
            }
            Err(e) => log::warn!("ignoring the compiled plugin `{}`: {e:#}", path.display()),
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    match store(&path, digest, &compiled) {
        Ok(()) => map_component(engine, &path),
        Err(e) => {
            log::warn!(
                "cannot keep the compiled plugin in `{}`: {e}",
                dir.display()
            );
            read_component(engine, &compiled)
        }
    }
}

/// The compiled core module `bytes` (a proxy-wasm filter), cached the same way.
pub fn module(
    engine: &Engine,
    dir: &Path,
    digest: &Digest,
    bytes: &[u8],
) -> wasmtime::Result<Module> {
    let path = artifact_path(engine, dir, digest);
    if intact(&path, digest) {
        match map_module(engine, &path) {
            Ok(module) => {
                mark_used(&path);
                return Ok(module);
            }
            Err(e) => log::warn!("ignoring the compiled filter `{}`: {e:#}", path.display()),
        }
    }
    let compiled = engine.precompile_module(bytes)?;
    match store(&path, digest, &compiled) {
        Ok(()) => map_module(engine, &path),
        Err(e) => {
            log::warn!(
                "cannot keep the compiled filter in `{}`: {e}",
                dir.display()
            );
            Module::new(engine, bytes)
        }
    }
}

fn artifact_path(engine: &Engine, dir: &Path, digest: &Digest) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!(
        "{}-{:016x}.cwasm",
        hex::encode(digest),
        hasher.finish()
    ))
}

/// Have the kernel cache `file` (read next, to hash it) in single pages. Writing it, or reading
/// it with readahead, caches it in large folios (up to 2 MiB), and Linux maps a whole large
/// folio into a process at the first fault in it: a Python component's code and data were
/// then ~26 MB resident before its first call. Dropped and read back without readahead, the
/// file is cached page by page, and a mapping holds only the pages run or read (and their
/// fault-around neighbours): 5 MB. Best effort: without it, only memory is lost.
fn cache_in_small_pages(file: &std::fs::File) {
    use rustix::fs::{fadvise, Advice};
    let advised = fadvise(file, 0, None, Advice::DontNeed)
        .and_then(|()| fadvise(file, 0, None, Advice::Random));
    if let Err(e) = advised {
        log::debug!("posix_fadvise on a compiled plugin: {e}");
    }
}

/// Whether the compiled plugin at `path` may be mapped: trusted, and hashing with `digest` to
/// its stored checksum.
fn intact(path: &Path, digest: &Digest) -> bool {
    let sum = path.with_extension("sum");
    if !trusted(path) || !trusted(&sum) {
        return false;
    }
    let Ok(stored) = std::fs::read_to_string(&sum) else {
        return false;
    };
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    cache_in_small_pages(&file);
    let mut hasher = Sha256::new();
    hasher.update(digest);
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    if std::io::copy(&mut reader, &mut HashWriter(&mut hasher)).is_err() {
        return false;
    }
    let intact = hex::encode(hasher.finalize()) == stored.trim();
    if !intact {
        log::warn!(
            "the compiled plugin `{}` does not match its checksum: compiling it again",
            path.display()
        );
    }
    intact
}

/// The checksum of `compiled`, compiled from the plugin with `digest`.
fn checksum(digest: &Digest, compiled: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(digest);
    hasher.update(compiled);
    hex::encode(hasher.finalize())
}

/// Feeds what is written to it to a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `path` is a regular file (not a link) this user owns that no one else may have
/// written, in a directory no one else may write to.
fn trusted(path: &Path) -> bool {
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return false;
    };
    let safe = |metadata: std::fs::Metadata| {
        metadata.uid() == me && metadata.permissions().mode() & 0o022 == 0
    };
    let file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && safe(m));
    file && path
        .parent()
        .and_then(|dir| std::fs::metadata(dir).ok())
        .is_some_and(safe)
}

/// Write `compiled` to `path` through a temporary file renamed into place, so that no process
/// ever maps a half-written file (the directory is created private to this user), then prune
/// the directory.
fn store(path: &Path, digest: &Digest, compiled: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    for (target, contents) in [
        (path.to_path_buf(), compiled),
        (
            path.with_extension("sum"),
            checksum(digest, compiled).as_bytes(),
        ),
    ] {
        let temporary = target.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, contents)?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&temporary, &target)?;
    }
    prune(dir, MAX_BYTES);
    Ok(())
}

/// Mark the file at `path` as used now (its modification time orders the pruning).
fn mark_used(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Remove the least recently used compiled plugins of `dir` until they take at most `max`
/// bytes.
fn prune(dir: &Path, max: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "cwasm"))
        .filter_map(|path| {
            let metadata = std::fs::metadata(&path).ok()?;
            Some((metadata.modified().ok()?, metadata.len(), path))
        })
        .collect();
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= max {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            let _ = std::fs::remove_file(path.with_extension("sum"));
            total -= len;
        }
    }
}

/// Map the compiled component at `path`: the caller checked it is trusted (see the module
/// header); wasmtime checks it was compiled by a compatible engine.
#[allow(unsafe_code)]
fn map_component(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `path` was written by `store` from `Engine::precompile_component`, in a directory
    // and file only this user may write, and its contents still match the checksum `store`
    // wrote for this plugin (`intact`); wasmtime validates its header.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Load a component this process compiled a moment ago.
#[allow(unsafe_code)]
fn read_component(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `compiled` is the output of `Engine::precompile_component` on this engine.
    unsafe { Component::deserialize(engine, compiled) }
}

/// Map the compiled module at `path`, as `map_component`.
#[allow(unsafe_code)]
fn map_module(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
    // SAFETY: as `map_component`, from `Engine::precompile_module`.
    unsafe { Module::deserialize_file(engine, path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_removes_the_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let now = std::time::SystemTime::now();
        for (i, age) in [3u64, 1, 2].iter().enumerate() {
            let path = dir.path().join(format!("{i}.cwasm"));
            std::fs::write(&path, vec![0; 100]).unwrap();
            let file = std::fs::File::options().append(true).open(&path).unwrap();
            file.set_modified(now - std::time::Duration::from_secs(age * 3600))
                .unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), vec![0; 1000]).unwrap();
        prune(dir.path(), 200);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["1.cwasm", "2.cwasm", "other.txt"],
            "the oldest went, other files stay"
        );
    }

    #[test]
    fn a_compiled_file_is_used_only_while_it_matches_its_checksum_and_plugin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("a.cwasm");
        let (digest, other) = ([1; 32], [2; 32]);
        store(&path, &digest, b"compiled code").unwrap();
        assert!(intact(&path, &digest));
        assert!(
            !intact(&path, &other),
            "another plugin's compiled code under this name"
        );
        std::fs::write(&path, b"compiled cod3").unwrap();
        assert!(!intact(&path, &digest), "a corrupted file");
        store(&path, &digest, b"compiled code").unwrap();
        let link = dir.path().join("b.cwasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        std::fs::copy(path.with_extension("sum"), link.with_extension("sum")).unwrap();
        assert!(!intact(&link, &digest), "a link");
    }

    #[test]
    fn files_others_could_write_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("a.cwasm");
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(trusted(&path));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!trusted(&path), "a world-writable file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!trusted(&path), "in a world-writable directory");
        assert!(!trusted(&dir.path().join("missing.cwasm")));
    }
}
