//! A catalog folder -> `Catalog`, doing only what the changes since the last reading need,
//! and holding as little at once as it can: a service with a hundred thousand titles must
//! not need the memory of every file's parse tree at the same time.
//!
//! Two passes over the files, in parallel. The first finds what changed: a file whose
//! metadata is as last seen is not read again, one whose bytes hash as before is not parsed
//! again. Of the changed files, only those that may define groups or the platform
//! vocabulary are parsed here and kept, since every file is checked against those. The
//! second pass checks each changed file (all of them when groups or platforms changed),
//! reading and parsing it just before and dropping the parse just after. Should a file turn
//! out to define groups after all (a key written with escapes fools the quick look), the
//! reading starts over with that file kept from the first pass.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::catalog::parse::{ParsedFile, parse_file};
use crate::catalog::time::LocalTimes;
use crate::catalog::validate::{self, CheckedFile};
use crate::catalog::{Catalog, CatalogError, LoadOptions, is_ignored, read_limited};

/// What the last reading of a catalog folder leaves for the next.
#[derive(Debug, Default)]
pub struct FolderState {
    /// Each file as last checked, by relative path.
    files: HashMap<String, Known>,
    /// The groups and platforms those files were checked under.
    context_key: Option<[u8; 32]>,
    /// Local date-times already read in every zone.
    times: LocalTimes,
}

#[derive(Debug)]
struct Known {
    checked: Arc<CheckedFile>,
    /// The file's metadata when it was read, if old enough to be trusted (see `Stamp`).
    stamp: Option<Stamp>,
}

impl FolderState {
    /// Makes the next reading read every file, as if its metadata had changed.
    pub fn forget_stamps(&mut self) {
        for known in self.files.values_mut() {
            known.stamp = None;
        }
    }
}

/// A file's identity and change times. Equal stamps mean an unchanged file, provided the
/// stamp was taken well after the file's last change: file systems keep times at a coarse
/// tick, and two writes within one tick look alike. A file changed less than `SETTLE` before
/// it was read is read again next time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

const SETTLE: Duration = Duration::from_secs(2);

impl Stamp {
    #[cfg(unix)]
    fn of(path: &Path, read_at: SystemTime) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        let stamp = Stamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.len(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        };
        let settled = read_at.checked_sub(SETTLE)?;
        let settled = settled
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs() as i64;
        (stamp.modified.0 < settled && stamp.changed.0 < settled).then_some(stamp)
    }

    #[cfg(not(unix))]
    fn of(_path: &Path, _read_at: SystemTime) -> Option<Stamp> {
        None
    }
}

/// What the first pass found of one file.
enum Found {
    /// As last checked.
    Same(Arc<CheckedFile>),
    /// Changed, and may define groups or platforms: parsed now.
    Parsed(ParsedFile),
    /// Changed: read and parsed in the second pass.
    Changed,
}

/// Reads the catalog folder `dir` (files over `max_file_bytes` are errors), starting from
/// what `state` remembers and leaving there what the next reading needs; `previous`, the
/// catalog in service, lends what it worked out for titles whose files did not change.
pub fn load(
    dir: &Path,
    max_file_bytes: u64,
    options: &LoadOptions,
    state: &mut FolderState,
    previous: Option<&Catalog>,
) -> Result<Catalog, CatalogError> {
    let mut keep = HashSet::new();
    loop {
        match attempt(dir, max_file_bytes, options, state, &keep, previous)? {
            Attempt::Done(catalog) => return *catalog,
            Attempt::Again(paths) => {
                // Each new attempt parses at least one more file ahead, so this ends; a file
                // asked for twice is one that keeps changing while it is read.
                if let Some(again) = paths.iter().find(|path| keep.contains(*path)) {
                    return Err(CatalogError::Read {
                        path: dir.join(again),
                        message: "changed while the folder was read; read again on the next change"
                            .into(),
                    });
                }
                keep.extend(paths);
            }
        }
    }
}

enum Attempt {
    Done(Box<Result<Catalog, CatalogError>>),
    /// Read again, parsing these files ahead: they define groups or platforms although the
    /// quick look said they do not, or they changed while the folder was read.
    Again(Vec<String>),
}

fn attempt(
    dir: &Path,
    max_file_bytes: u64,
    options: &LoadOptions,
    state: &mut FolderState,
    keep: &HashSet<String>,
    previous: Option<&Catalog>,
) -> Result<Attempt, CatalogError> {
    let read_at = SystemTime::now();
    let listing = list(dir)?;
    let found = crate::parallel::map(&listing, |(relative, path)| {
        let known = state.files.get(relative);
        let stamp = Stamp::of(path, read_at);
        if let Some(known) = known
            && stamp.is_some()
            && known.stamp == stamp
        {
            return Ok((Found::Same(Arc::clone(&known.checked)), stamp));
        }
        let text = read(path, max_file_bytes)?;
        if let Some(known) = known
            && known.checked.hash == validate::text_hash(&text)
        {
            return Ok((Found::Same(Arc::clone(&known.checked)), stamp));
        }
        if keep.contains(relative) || may_define(&text) {
            return Ok((Found::Parsed(parse_file(relative, &text)), stamp));
        }
        Ok((Found::Changed, stamp))
    });
    let found = found
        .into_iter()
        .collect::<Result<Vec<_>, CatalogError>>()?;
    let definitions: Vec<&ParsedFile> = found
        .iter()
        .filter_map(|(found, _)| match found {
            Found::Same(checked) => checked.definitions.as_deref(),
            Found::Parsed(parsed) => Some(parsed),
            Found::Changed => None,
        })
        .collect();
    let context = validate::context(&definitions);
    // New groups or platforms can change what any file means: then every file is checked.
    let same_context = state.context_key == Some(context.key);
    let to_check: Vec<usize> = (0..found.len())
        .filter(|&n| !same_context || !matches!(found[n].0, Found::Same(_)))
        .collect();
    let times = &state.times;
    let fresh = crate::parallel::map(&to_check, |&n| {
        let check = |file: &ParsedFile| Arc::new(validate::check_file(file, &context, times));
        let (relative, path) = &listing[n];
        match &found[n].0 {
            Found::Parsed(parsed) => Ok(Some(check(parsed))),
            found => {
                let text = read(path, max_file_bytes)?;
                let parsed = parse_file(relative, &text);
                // The context holds an unchanged file's definitions as they were, and none of
                // a changed file's: a file edited since the first pass, or a changed one that
                // defines something after all, means starting over with it parsed ahead.
                let stale = match found {
                    Found::Same(known) => known.hash != validate::text_hash(&text),
                    _ => parsed.defines_anything(),
                };
                if stale {
                    return Ok(None);
                }
                Ok(Some(check(&parsed)))
            }
        }
    });
    let mut checked: Vec<Option<Arc<CheckedFile>>> = found
        .iter()
        .map(|(found, _)| match found {
            Found::Same(checked) => Some(Arc::clone(checked)),
            _ => None,
        })
        .collect();
    let mut again = Vec::new();
    for (n, file) in to_check.into_iter().zip(fresh) {
        match file? {
            Some(file) => checked[n] = Some(file),
            None => again.push(listing[n].0.clone()),
        }
    }
    if !again.is_empty() {
        return Ok(Attempt::Again(again));
    }
    let checked: Vec<Arc<CheckedFile>> = checked
        .into_iter()
        .map(|file| file.expect("every file was kept or checked"))
        .collect();
    state.files = checked
        .iter()
        .zip(&found)
        .map(|(file, (_, stamp))| {
            let known = Known {
                checked: Arc::clone(file),
                stamp: *stamp,
            };
            (file.path.clone(), known)
        })
        .collect();
    state.context_key = Some(context.key);
    state.times.forget_unused();
    let catalog = validate::assemble(&checked, &context, options, previous);
    Ok(Attempt::Done(Box::new(catalog)))
}

/// True unless `text` surely defines neither groups nor the platform vocabulary: it names
/// `groups` somewhere, or `platforms` before its first table.
fn may_define(text: &str) -> bool {
    if text.contains("groups") {
        return true;
    }
    text.lines()
        .take_while(|line| !line.trim_start().starts_with('['))
        .any(|line| line.contains("platforms"))
}

fn read(path: &Path, max_file_bytes: u64) -> Result<String, CatalogError> {
    read_limited(path, max_file_bytes).map_err(|message| CatalogError::Read {
        path: path.to_owned(),
        message,
    })
}

/// Every catalog file under `dir`: relative path (with `/`) and full path, sorted by the
/// relative path.
pub(crate) fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>, CatalogError> {
    let read_error = |path: &Path, message: String| CatalogError::Read {
        path: path.to_owned(),
        message,
    };
    let metadata = std::fs::metadata(dir).map_err(|error| read_error(dir, error.to_string()))?;
    if !metadata.is_dir() {
        return Err(read_error(dir, "is not a folder".into()));
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !is_ignored(&entry.file_name().to_string_lossy())
        });
    for entry in walker {
        let entry = entry.map_err(|error| {
            let path = error.path().unwrap_or(dir).to_owned();
            read_error(&path, error.to_string())
        })?;
        let is_toml = entry.path().extension().is_some_and(|ext| ext == "toml");
        if entry.depth() > 0 && is_toml && entry.file_type().is_dir() {
            // Most likely a file replaced by mistake: serving without its titles would be a
            // wrong "no" for each of them.
            return Err(read_error(
                entry.path(),
                "is a folder, not a catalog file".into(),
            ));
        }
        if !entry.file_type().is_file() || !is_toml {
            continue;
        }
        // A name that is not UTF-8 could not be told apart from another in messages, or in
        // what a reload remembers of each file.
        let Some(relative) = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|part| part.as_os_str().to_str())
            .collect::<Option<Vec<_>>>()
        else {
            return Err(read_error(
                entry.path(),
                "has a name that is not UTF-8".into(),
            ));
        };
        let relative = relative.join("/");
        files.push((relative, entry.into_path()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LoadOptions {
        LoadOptions {
            now: "2026-06-01T00:00:00Z".parse().unwrap(),
            geoip_has_regions: None,
        }
    }

    const TITLE: &str = "[[titles]]\nid = \"a\"\nname = \"A\"\n[[titles.licenses]]\n";

    #[test]
    fn a_group_defined_behind_escapes_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        // `\u0067roups` is `groups`: the quick look cannot see it, the parse does.
        std::fs::write(
            dir.path().join("groups.toml"),
            "\"\\u0067roups\".NORDICS = [\"SE\", \"NO\"]\n",
        )
        .unwrap();
        let titles = format!("{TITLE}territories = [\"@NORDICS\"]\n");
        std::fs::write(dir.path().join("titles.toml"), titles).unwrap();
        let mut state = FolderState::default();
        let catalog = load(dir.path(), 1 << 20, &options(), &mut state, None).unwrap();
        let title = catalog.title("a").unwrap();
        assert_eq!(title.licenses[0].written.territories().iter().count(), 1);
        assert!(!may_define(
            &std::fs::read_to_string(dir.path().join("groups.toml")).unwrap()
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_name_that_is_not_utf8_is_an_error_naming_it() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.toml");
        std::fs::write(dir.path().join(name), TITLE).unwrap();
        let error = load(
            dir.path(),
            1 << 20,
            &options(),
            &mut FolderState::default(),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(error.ends_with("has a name that is not UTF-8"), "{error}");
    }

    #[test]
    fn regrouping_the_same_names_is_a_new_context() {
        let dir = tempfile::tempdir().unwrap();
        let groups = dir.path().join("groups.toml");
        std::fs::write(&groups, "[groups]\nA = [\"SE\", \"NO\", \"DK\"]\n").unwrap();
        let titles = format!("{TITLE}territories = [\"@A\"]\n");
        std::fs::write(dir.path().join("titles.toml"), titles).unwrap();
        let mut state = FolderState::default();
        let first = load(dir.path(), 1 << 20, &options(), &mut state, None).unwrap();
        // The same names and codes in the same order, grouped otherwise: @A is Sweden alone.
        std::fs::write(&groups, "[groups]\nA = [\"SE\"]\nNO = [\"DK\"]\n").unwrap();
        let reloaded = load(dir.path(), 1 << 20, &options(), &mut state, Some(&first)).unwrap();
        let fresh = Catalog::load(dir.path(), &options()).unwrap();
        let territories = |catalog: &Catalog| {
            catalog.title("a").unwrap().title().licenses[0]
                .territories
                .clone()
        };
        assert_eq!(territories(&reloaded), territories(&fresh));
        assert_ne!(territories(&reloaded), territories(&first));
    }

    #[test]
    fn new_platforms_recheck_every_file_including_the_one_defining_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("groups.toml"),
            "[groups]\nNORDICS = [\"SE\"]\n",
        )
        .unwrap();
        let platforms = dir.path().join("platforms.toml");
        std::fs::write(&platforms, "platforms = [\"tv\", \"web\"]\n").unwrap();
        let titles = format!("{TITLE}territories = [\"@NORDICS\"]\nplatforms = [\"tv\"]\n");
        std::fs::write(dir.path().join("titles.toml"), titles).unwrap();
        let mut state = FolderState::default();
        let first = load(dir.path(), 1 << 20, &options(), &mut state, None).unwrap();
        // The vocabulary changes: every file is checked again, the groups file among them,
        // whose groups are in the context already.
        std::fs::write(&platforms, "platforms = [\"tv\", \"web\", \"car\"]\n").unwrap();
        let second = load(dir.path(), 1 << 20, &options(), &mut state, Some(&first)).unwrap();
        assert_eq!(second.platform_names(), ["tv", "web", "car"]);
        assert!(second.title("a").is_some());
    }

    #[test]
    fn an_unchanged_file_keeps_its_check_and_an_edited_one_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("titles.toml");
        std::fs::write(&path, format!("{TITLE}territories = [\"US\"]\n")).unwrap();
        let mut state = FolderState::default();
        let first = load(dir.path(), 1 << 20, &options(), &mut state, None).unwrap();
        let second = load(dir.path(), 1 << 20, &options(), &mut state, None).unwrap();
        assert!(Arc::ptr_eq(&first.titles[0], &second.titles[0]));
        // Same length, new content, written just now: read again whatever the metadata.
        std::fs::write(&path, format!("{TITLE}territories = [\"GB\"]\n")).unwrap();
        let third = load(dir.path(), 1 << 20, &options(), &mut state, None).unwrap();
        assert_ne!(third.version(), first.version());
        let written: Vec<&str> = third.title("a").unwrap().title().licenses[0]
            .written
            .territories()
            .iter()
            .collect();
        assert_eq!(written, ["GB"]);
    }

    #[test]
    fn the_quick_look_finds_every_plain_definition() {
        assert!(may_define("[groups]\nNORDICS = [\"SE\"]\n"));
        assert!(may_define("groups.NORDICS = [\"SE\"]\n"));
        assert!(may_define("platforms = [\"tv\"]\n[[titles]]\n"));
        assert!(may_define("# a comment\n  platforms=[\"tv\"]\n"));
        assert!(!may_define(
            "[[titles]]\nid = \"a\"\n[[titles.licenses]]\nplatforms = [\"tv\"]\n"
        ));
    }
}
