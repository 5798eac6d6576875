//! Reloading while serving: file changes (watched and debounced), SIGHUP and the admin route
//! all end in `Reloader::reload`, which builds a complete new snapshot off the request path and
//! swaps it in atomically. A source that fails keeps its last good version; the failure is
//! recorded for `/v1/status`, logged and counted.
//!
//! The order of a reload, step by step:
//! 1. Only one reload runs at a time (`state` is held throughout), so two triggers cannot
//!    interleave their half-built snapshots.
//! 2. Each source asked for is read. Unchanged content is recognised (by a hash of the bytes,
//!    and per catalog file) and not parsed again.
//! 3. Changed sources are parsed and validated into new values; a failure leaves that source's
//!    current value in place and records the messages.
//! 4. If anything changed, a new `Snapshot` is assembled from the new values and the untouched
//!    ones (shared, not copied) and published with one atomic store. Requests in flight keep
//!    the `Arc` of the snapshot they started with.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::catalog::load::FolderState;
use crate::catalog::{self, Catalog, CatalogError, LoadOptions};
use crate::config::Config;
use crate::geoip::{AnonymizerDatabase, GeoipDatabase, LoadError, Locator, Overrides, Sources};
use crate::metrics::{GeoipLabels, Metrics};
use crate::snapshot::{LoadedAt, Snapshot};

/// A source that can be reloaded on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The catalog folder.
    Catalog,
    /// The GeoIP database.
    Geoip,
    /// The overrides file.
    Overrides,
    /// The anonymizer database.
    Anonymizer,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 4] = [
        Source::Catalog,
        Source::Geoip,
        Source::Overrides,
        Source::Anonymizer,
    ];

    /// The name used in status, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Catalog => "catalog",
            Source::Geoip => "geoip",
            Source::Overrides => "overrides",
            Source::Anonymizer => "anonymizer",
        }
    }
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A watched file changed.
    Watch,
    /// The process received SIGHUP.
    Sighup,
    /// `POST /v1/admin/reload`.
    Admin,
}

impl Trigger {
    /// The word used in `/v1/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Sighup => "sighup",
            Trigger::Admin => "admin",
        }
    }
}

/// The last failure of one source, until a later good load clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// When it failed.
    pub at: Timestamp,
    /// `path:line:col: message` lines, or one message naming the file.
    pub messages: Vec<String>,
}

/// The last reload after start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastReload {
    /// When it ran.
    pub at: Timestamp,
    /// What started it.
    pub trigger: Trigger,
    /// True when every source it read loaded (or was unchanged).
    pub ok: bool,
}

/// What `/v1/status` needs besides the snapshot.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// Sources whose last load failed.
    pub errors: BTreeMap<Source, SourceError>,
    /// `None` before the first reload after start-up.
    pub last_reload: Option<LastReload>,
}

/// What one reload did.
#[derive(Debug, Clone, Default)]
pub struct ReloadOutcome {
    /// The sources that failed, with their messages.
    pub failures: Vec<(Source, Vec<String>)>,
}

impl ReloadOutcome {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A source that could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
#[error("{} could not be loaded:\n{}", failed.as_str(), messages.join("\n"))]
pub struct StartupError {
    /// Which source.
    pub failed: Source,
    /// Why.
    pub messages: Vec<String>,
}

/// What was read last time, to recognise unchanged content.
#[derive(Debug, Default)]
struct Seen {
    /// The catalog folder as last read: an unchanged file under unchanged groups and
    /// platforms is neither parsed nor checked again.
    catalog: FolderState,
    /// A hash of each file source's bytes.
    hashes: HashMap<Source, [u8; 32]>,
}

/// Owns the published snapshot and everything needed to replace it.
#[derive(Debug)]
pub struct Reloader {
    config: Config,
    snapshot: Arc<ArcSwap<Snapshot>>,
    status: Mutex<ReloadStatus>,
    /// Held for the whole of a reload: reloads never interleave.
    seen: Mutex<Seen>,
    metrics: Arc<Metrics>,
}

impl Reloader {
    /// Loads every configured source; the first that fails is the error, naming it.
    pub fn start(
        config: Config,
        metrics: Arc<Metrics>,
        now: Timestamp,
    ) -> Result<Reloader, StartupError> {
        let mut seen = Seen::default();
        let startup_error =
            |failed: Source, messages: Vec<String>| StartupError { failed, messages };
        // The location sources are read and indexed on a thread of their own: what the
        // index build frees goes back with the thread's memory arena to the threads that
        // check catalog files next, instead of staying resident and unused.
        let location = std::thread::scope(|scope| {
            let read = scope.spawn(|| Reloader::read_location(&config, &mut seen.hashes));
            read.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .map_err(|(failed, messages)| startup_error(failed, messages))?;
        let catalog = load_catalog(
            &config.catalogs,
            config.limits.catalog_file_bytes,
            &mut seen,
            now,
            Some(location.sources().geoip.has_regions),
            None,
        )
        .map_err(|error| startup_error(Source::Catalog, error.messages()))?;
        let snapshot = Snapshot {
            catalog: Arc::new(catalog),
            locator: location,
            loaded_at: LoadedAt {
                catalog: now,
                geoip: now,
                overrides: now,
                anonymizer: config.geoip.anonymizer_database.as_ref().map(|_| now),
            },
        };
        let reloader = Reloader {
            config,
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            status: Mutex::new(ReloadStatus::default()),
            seen: Mutex::new(seen),
            metrics,
        };
        reloader.update_gauges();
        Ok(reloader)
    }

    /// The snapshot to answer one request with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The shared handle requests read from.
    pub fn shared(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.snapshot)
    }

    /// Errors and the last reload, for `/v1/status`.
    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The configuration the sources come from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configured sources: the overrides and anonymizer only when configured.
    pub fn configured(&self) -> BTreeSet<Source> {
        Source::ALL
            .into_iter()
            .filter(|source| match source {
                Source::Overrides => self.config.geoip.overrides.is_some(),
                Source::Anonymizer => self.config.geoip.anonymizer_database.is_some(),
                _ => true,
            })
            .collect()
    }

    /// The GeoIP database, overrides and anonymizer database of `config`, indexed, with
    /// each file's hash in `hashes`; the error names the source that failed.
    fn read_location(
        config: &Config,
        hashes: &mut HashMap<Source, [u8; 32]>,
    ) -> Result<Locator, (Source, Vec<String>)> {
        let geoip_bytes =
            read_bytes(&config.geoip.database).map_err(|e| (Source::Geoip, e.messages()))?;
        hashes.insert(Source::Geoip, hash(&geoip_bytes));
        let geoip =
            GeoipDatabase::from_bytes(&config.geoip.database, geoip_bytes, &config.geoip.options())
                .map_err(|e| (Source::Geoip, e.messages()))?;
        let overrides = match &config.geoip.overrides {
            None => Overrides::empty(),
            Some(path) => {
                let text = read_text(path).map_err(|e| (Source::Overrides, e.messages()))?;
                hashes.insert(Source::Overrides, hash(text.as_bytes()));
                Overrides::parse(&path.display().to_string(), &text).map_err(|diagnostics| {
                    let messages = diagnostics.iter().map(ToString::to_string).collect();
                    (Source::Overrides, messages)
                })?
            }
        };
        let anonymizer = match &config.geoip.anonymizer_database {
            None => None,
            Some(path) => {
                let bytes = read_bytes(path).map_err(|e| (Source::Anonymizer, e.messages()))?;
                hashes.insert(Source::Anonymizer, hash(&bytes));
                Some(Arc::new(
                    AnonymizerDatabase::from_bytes(path, bytes)
                        .map_err(|e| (Source::Anonymizer, e.messages()))?,
                ))
            }
        };
        Ok(Locator::new(Sources {
            geoip: Arc::new(geoip),
            overrides: Arc::new(overrides),
            anonymizer,
            anonymizer_mask: config.geoip.anonymizer_mask(),
        }))
    }

    /// Re-reads `sources` and publishes a new snapshot if anything changed. Blocking: call it
    /// off the async runtime's worker threads.
    pub fn reload(
        &self,
        sources: &BTreeSet<Source>,
        trigger: Trigger,
        now: Timestamp,
    ) -> ReloadOutcome {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if trigger != Trigger::Watch {
            // Asked by a person: every file is read again, whatever its metadata says.
            seen.catalog.forget_stamps();
        }
        let current = self.snapshot.load_full();
        let mut next = (*current).clone();
        let mut location = current.locator.sources().clone();
        let mut changed = false;
        let mut location_changed = false;
        let mut results = Vec::new();
        // The database first, so that a catalog validated in the same reload is warned about
        // region rules against the database that will serve it.
        for source in [
            Source::Geoip,
            Source::Overrides,
            Source::Anonymizer,
            Source::Catalog,
        ] {
            // A database that gains or loses region codes changes the catalog's warnings,
            // even when no catalog file changed.
            let regions_changed = source == Source::Catalog
                && location.geoip.has_regions != current.locator.sources().geoip.has_regions;
            if !(sources.contains(&source) || regions_changed)
                || !self.configured().contains(&source)
            {
                continue;
            }
            let result = self.load(
                source,
                &mut seen,
                &mut next,
                &mut location,
                now,
                regions_changed,
            );
            if let Ok(true) = result {
                changed = true;
                location_changed |= source != Source::Catalog;
            }
            results.push((source, result));
        }
        if location_changed {
            // Compiled once, after every location source of this reload has been read.
            next.locator = Locator::new(location);
        }
        if changed {
            let next = Arc::new(next);
            self.snapshot.store(Arc::clone(&next));
            self.update_gauges();
            log_changes(&current, &next);
            // Freeing a large catalog takes a while (every title it alone holds, its streams):
            // done on a thread of its own, off the reload's path, once no request holds it.
            let retired = std::thread::Builder::new()
                .name("geoavail-retire".into())
                .spawn(move || drop(current));
            if let Err(error) = retired {
                tracing::debug!(%error, "freeing the replaced snapshot on this thread");
            }
        }
        // Status and metrics change only once what they describe is served.
        let mut outcome = ReloadOutcome::default();
        let mut status = self.lock_status();
        for (source, result) in results {
            match result {
                Ok(_) => {
                    self.metrics.reloaded(source.as_str(), true);
                    status.errors.remove(&source);
                }
                Err(messages) => {
                    tracing::warn!(source = source.as_str(), trigger = trigger.as_str(), errors = ?messages, "reload failed; still serving the last good version");
                    self.metrics.reloaded(source.as_str(), false);
                    status.errors.insert(
                        source,
                        SourceError {
                            at: now,
                            messages: messages.clone(),
                        },
                    );
                    outcome.failures.push((source, messages));
                }
            }
        }
        status.last_reload = Some(LastReload {
            at: now,
            trigger,
            ok: outcome.is_ok(),
        });
        outcome
    }

    /// Loads one source into `next`; `Ok(false)` when its content is unchanged.
    fn load(
        &self,
        source: Source,
        seen: &mut Seen,
        next: &mut Snapshot,
        location: &mut Sources,
        now: Timestamp,
        force: bool,
    ) -> Result<bool, Vec<String>> {
        let geoip = &self.config.geoip;
        match source {
            Source::Catalog => {
                let catalog = load_catalog(
                    &self.config.catalogs,
                    self.config.limits.catalog_file_bytes,
                    seen,
                    now,
                    Some(location.geoip.has_regions),
                    Some(&next.catalog),
                )
                .map_err(|error| error.messages())?;
                if catalog.version() == next.catalog.version() && !force {
                    return Ok(false);
                }
                next.catalog = Arc::new(catalog);
                next.loaded_at.catalog = now;
            }
            Source::Geoip => {
                let bytes = read_bytes(&geoip.database).map_err(|e| e.messages())?;
                if !seen.changed(source, &bytes) {
                    return Ok(false);
                }
                let database =
                    GeoipDatabase::from_bytes(&geoip.database, bytes.clone(), &geoip.options())
                        .map_err(|e| e.messages())?;
                seen.remember(source, &bytes);
                location.geoip = Arc::new(database);
                next.loaded_at.geoip = now;
            }
            Source::Overrides => {
                let Some(path) = &geoip.overrides else {
                    return Ok(false);
                };
                let text = read_text(path).map_err(|e| e.messages())?;
                if !seen.changed(source, text.as_bytes()) {
                    return Ok(false);
                }
                let overrides = Overrides::parse(&path.display().to_string(), &text).map_err(
                    |diagnostics| {
                        diagnostics
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                    },
                )?;
                seen.remember(source, text.as_bytes());
                location.overrides = Arc::new(overrides);
                next.loaded_at.overrides = now;
            }
            Source::Anonymizer => {
                let Some(path) = &geoip.anonymizer_database else {
                    return Ok(false);
                };
                let bytes = read_bytes(path).map_err(|e| e.messages())?;
                if !seen.changed(source, &bytes) {
                    return Ok(false);
                }
                let database = AnonymizerDatabase::from_bytes(path, bytes.clone())
                    .map_err(|e| e.messages())?;
                seen.remember(source, &bytes);
                location.anonymizer = Some(Arc::new(database));
                next.loaded_at.anonymizer = Some(now);
            }
        }
        Ok(true)
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, ReloadStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update_gauges(&self) {
        let snapshot = self.snapshot.load();
        self.metrics
            .catalog_titles
            .set(snapshot.catalog.titles().len() as i64);
        self.metrics
            .geoip_networks
            .set(snapshot.locator.sources().geoip.info.networks as i64);
        self.metrics
            .geoip_build_timestamp
            .set(snapshot.locator.sources().geoip.info.build_epoch as i64);
        let labels = GeoipLabels {
            database_type: snapshot.locator.sources().geoip.info.database_type.clone(),
        };
        if self.metrics.geoip_info.get(&labels).is_none() {
            // One series at a time: the type of the database served now.
            self.metrics.geoip_info.clear();
            self.metrics.geoip_info.get_or_create(&labels).set(1);
        }
    }
}

impl Seen {
    fn changed(&self, source: Source, bytes: &[u8]) -> bool {
        self.hashes.get(&source) != Some(&hash(bytes))
    }

    fn remember(&mut self, source: Source, bytes: &[u8]) {
        self.hashes.insert(source, hash(bytes));
    }
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads the catalog folder, parsing only files whose text changed since the last read.
fn load_catalog(
    dir: &Path,
    max_file_bytes: u64,
    seen: &mut Seen,
    now: Timestamp,
    geoip_has_regions: Option<bool>,
    previous: Option<&Catalog>,
) -> Result<Catalog, CatalogError> {
    let options = LoadOptions {
        now,
        geoip_has_regions,
    };
    catalog::load::load(dir, max_file_bytes, &options, &mut seen.catalog, previous)
}

/// The summary of a reload for the log: counts, never lists.
fn log_changes(before: &Snapshot, after: &Snapshot) {
    if before.catalog.version() != after.catalog.version() {
        let catalog::Changes {
            added,
            removed,
            changed,
        } = after.catalog.changes_since(&before.catalog);
        tracing::info!(
            from = before.catalog.version(),
            to = after.catalog.version(),
            titles = after.catalog.titles().len(),
            added,
            removed,
            changed,
            "catalog reloaded"
        );
    }
    if !Arc::ptr_eq(
        &before.locator.sources().geoip,
        &after.locator.sources().geoip,
    ) {
        let info = &after.locator.sources().geoip.info;
        tracing::info!(database_type = %info.database_type, networks = info.networks, ranges = info.ranges, "geoip database reloaded");
    }
    if !Arc::ptr_eq(
        &before.locator.sources().overrides,
        &after.locator.sources().overrides,
    ) {
        tracing::info!(
            entries = after.locator.sources().overrides.entries().len(),
            "overrides reloaded"
        );
    }
    let anonymizer_changed = match (
        &before.locator.sources().anonymizer,
        &after.locator.sources().anonymizer,
    ) {
        (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
        _ => false,
    };
    if anonymizer_changed {
        tracing::info!("anonymizer database reloaded");
    }
}

/// True when two titles are written the same (windows compared as written).
/// How long the files must be quiet before a watched change is reloaded.
pub const QUIET: Duration = Duration::from_millis(250);
/// The longest a stream of changes can hold a reload back.
pub const MAX_WAIT: Duration = Duration::from_millis(1000);

/// The next set of changed sources: waits for one, then gathers more until the files have
/// been quiet for `quiet` (or `max_wait` has passed since the first). `None` when the sender
/// is gone.
pub async fn next_batch(
    events: &mut mpsc::UnboundedReceiver<Source>,
    quiet: Duration,
    max_wait: Duration,
) -> Option<BTreeSet<Source>> {
    let first = events.recv().await?;
    let mut batch = BTreeSet::from([first]);
    let deadline = tokio::time::Instant::now() + max_wait;
    loop {
        let wait = quiet.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, events.recv()).await {
            Ok(Some(source)) => {
                batch.insert(source);
            }
            Ok(None) | Err(_) => return Some(batch),
        }
    }
}

/// Which source a changed path belongs to.
#[derive(Debug, Clone)]
pub struct Classifier {
    catalogs: PathBuf,
    files: Vec<(PathBuf, Source)>,
}

impl Classifier {
    /// Paths made absolute, so they compare with what the watcher reports.
    pub fn new(config: &Config) -> Classifier {
        let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let mut files = vec![(absolute(&config.geoip.database), Source::Geoip)];
        if let Some(path) = &config.geoip.overrides {
            files.push((absolute(path), Source::Overrides));
        }
        if let Some(path) = &config.geoip.anonymizer_database {
            files.push((absolute(path), Source::Anonymizer));
        }
        Classifier {
            catalogs: absolute(&config.catalogs),
            files,
        }
    }

    /// The sources `path` may belong to; none for paths that matter to nobody (editor
    /// leftovers, hidden folders such as `.git`, neighbours of a database file).
    ///
    /// Kubernetes mounts ConfigMaps and Secrets through `..data` and `..<timestamp>` entries
    /// and updates them by renaming `..data`; such names count, beside a database file as
    /// inside the catalog folder.
    pub fn classify(&self, path: &Path) -> Vec<Source> {
        let mut sources: Vec<Source> = self
            .files
            .iter()
            .filter(|(file, _)| {
                file == path
                    || (file.parent() == path.parent()
                        && path
                            .file_name()
                            .is_some_and(|name| name.to_string_lossy().starts_with("..")))
            })
            .map(|(_, source)| *source)
            .collect();
        if path == self.catalogs {
            sources.push(Source::Catalog);
        } else if let Ok(relative) = path.strip_prefix(&self.catalogs) {
            let ignored = relative.components().any(|part| {
                let name = part.as_os_str().to_string_lossy();
                !name.starts_with("..") && catalog::is_ignored(&name)
            });
            if !ignored {
                sources.push(Source::Catalog);
            }
        }
        sources
    }

    /// The folders to watch: the catalog folder (recursively), its parent (to see it deleted,
    /// recreated or renamed into place) and each file source's folder.
    pub fn watched(&self) -> Vec<(PathBuf, bool)> {
        let mut folders = vec![(self.catalogs.clone(), true)];
        let catalog_parent = self.catalogs.parent().map(Path::to_owned);
        for parent in catalog_parent.into_iter().chain(
            self.files
                .iter()
                .filter_map(|(file, _)| file.parent().map(Path::to_owned)),
        ) {
            if !folders.iter().any(|(folder, _)| *folder == parent) {
                folders.push((parent, false));
            }
        }
        folders
    }

    /// The catalog folder.
    pub fn catalogs(&self) -> &Path {
        &self.catalogs
    }
}

/// A file watcher set up on every source, ready to run. Setting up is separate from running
/// so that nothing written after `Watching::start` returns can be missed.
pub struct Watching {
    reloader: Arc<Reloader>,
    classifier: Classifier,
    watcher: notify::RecommendedWatcher,
    events: mpsc::UnboundedReceiver<Source>,
}

impl Watching {
    /// Watches the sources of `reloader`'s configuration. Watching folders rather than files
    /// sees editors' write-then-rename saves and geoipupdate's atomic rename. When the system
    /// loses events (a queue overflow) or reports an error, every source is re-read.
    pub fn start(reloader: Arc<Reloader>) -> notify::Result<Watching> {
        use notify::Watcher;

        let classifier = Classifier::new(reloader.config());
        let (sender, events) = mpsc::unbounded_channel();
        let watch_classifier = classifier.clone();
        let everything = reloader.configured();
        let created = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "the file watcher reported an error; re-reading every source");
                    for source in &everything {
                        let _ = sender.send(*source);
                    }
                    return;
                }
            };
            if event.need_rescan() {
                tracing::warn!("the file watcher lost events; re-reading every source");
                for source in &everything {
                    let _ = sender.send(*source);
                }
                return;
            }
            if event.kind.is_access() {
                return;
            }
            for path in &event.paths {
                for source in watch_classifier.classify(path) {
                    let _ = sender.send(source);
                }
            }
        });
        let mut watcher = match created {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::error!(%error, "cannot watch files; reload with SIGHUP or the admin route");
                return Err(error);
            }
        };
        for (folder, recursive) in classifier.watched() {
            let mode = if recursive {
                notify::RecursiveMode::Recursive
            } else {
                notify::RecursiveMode::NonRecursive
            };
            if let Err(error) = watcher.watch(&folder, mode) {
                tracing::warn!(folder = %folder.display(), %error, "cannot watch; changes there need SIGHUP or the admin route");
            }
        }
        Ok(Watching {
            reloader,
            classifier,
            watcher,
            events,
        })
    }

    /// Reloads what changed until `shutdown` resolves. The catalog folder's watch is renewed
    /// before every catalog reload, so a folder deleted and recreated, or renamed into place,
    /// is watched again.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        use notify::Watcher;

        tokio::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                batch = next_batch(&mut self.events, QUIET, MAX_WAIT) => batch,
                () = &mut shutdown => break,
            };
            let Some(batch) = batch else { break };
            if batch.contains(&Source::Catalog) {
                // Renews the watch if the folder was replaced; harmless when it was not, and an
                // error while it is missing (the reload below records that).
                let _ = self
                    .watcher
                    .watch(self.classifier.catalogs(), notify::RecursiveMode::Recursive);
            }
            let reloader = Arc::clone(&self.reloader);
            let reloaded =
                tokio::task::spawn_blocking(move || reloader.reload(&batch, Trigger::Watch, now()))
                    .await;
            if let Err(error) = reloaded {
                tracing::error!(%error, "a reload stopped unexpectedly; the last good snapshot is still served");
            }
        }
    }
}

/// The current time to the second, as status and answers show it.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).expect("now is a valid time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_batch() {
        let (sender, mut events) = mpsc::unbounded_channel();
        let producer = tokio::spawn(async move {
            for source in [Source::Catalog, Source::Catalog, Source::Geoip] {
                sender.send(source).unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
            sender.send(Source::Overrides).unwrap();
        });
        let started = tokio::time::Instant::now();
        let batch = next_batch(&mut events, QUIET, MAX_WAIT).await.unwrap();
        assert_eq!(batch, BTreeSet::from([Source::Catalog, Source::Geoip]));
        // The last event came at 200 ms; the batch closed after 250 ms of quiet.
        assert_eq!(started.elapsed(), Duration::from_millis(450));
        let batch = next_batch(&mut events, QUIET, MAX_WAIT).await.unwrap();
        assert_eq!(batch, BTreeSet::from([Source::Overrides]));
        producer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_of_changes_is_cut_at_the_longest_wait() {
        let (sender, mut events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                if sender.send(Source::Catalog).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = tokio::time::Instant::now();
        next_batch(&mut events, QUIET, MAX_WAIT).await.unwrap();
        assert_eq!(started.elapsed(), MAX_WAIT);
    }

    #[test]
    fn paths_are_classified_by_source() {
        let mut config = Config {
            catalogs: "/srv/catalogs".into(),
            ..Config::default()
        };
        config.geoip.database = "/srv/geoip/city.mmdb".into();
        config.geoip.overrides = Some("/srv/geoip/overrides.toml".into());
        let classifier = Classifier::new(&config);
        let at = |path: &str| classifier.classify(Path::new(path));
        assert_eq!(at("/srv/catalogs/a/b.toml"), [Source::Catalog]);
        assert_eq!(at("/srv/catalogs/.b.toml.swp"), []);
        assert_eq!(at("/srv/catalogs/.git/index"), []);
        assert_eq!(at("/srv/catalogs/..data"), [Source::Catalog]);
        assert_eq!(at("/srv/catalogs"), [Source::Catalog]);
        assert_eq!(at("/srv/geoip/city.mmdb"), [Source::Geoip]);
        assert_eq!(at("/srv/geoip/city.mmdb.tmp"), []);
        assert_eq!(at("/srv/geoip/overrides.toml"), [Source::Overrides]);
        assert_eq!(at("/srv/geoip/..data"), [Source::Geoip, Source::Overrides]);
        // The catalog folder recursively, and /srv (its parent) and /srv/geoip once each.
        assert_eq!(classifier.watched().len(), 3);
    }
}
