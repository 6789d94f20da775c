//! The review TUI: a folder browser, a tag-diff pane and a mapping pane over the same Plan the
//! CLI uses. This module runs it: terminal, input, and the workers that scan, plan and write.

pub mod app;
mod browser;
mod dialog;
mod diff;
pub mod keys;
mod mapping;
pub mod testing;
pub mod theme;
pub mod view;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use rayon::prelude::*;

pub use app::{App, Effect, Msg, Options};

use crate::apply::{self, ApplyError, Target};
use crate::key::{KeyError, KeyStore};
use crate::review::{ReviewError, ReviewState};
use crate::scan::{self, Outcome, ScanOptions};

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Target(#[from] ApplyError),
    #[error("terminal: {0}")]
    Io(#[from] io::Error),
}

/// Runs the review TUI until the user quits.
pub fn run(opts: Options) -> Result<(), TuiError> {
    // Everything that can refuse to start does so before the terminal is taken over.
    let key = KeyStore::open_or_create(&opts.key_path)?;
    let review = ReviewState::open(&key)?;
    apply::check_target(&opts.root, &Target::Folder(opts.out.clone()), key.location())?;
    if !opts.root.is_dir() {
        return Err(TuiError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a folder", opts.root.display()),
        )));
    }

    install_panic_log();
    let mut terminal = ratatui::try_init()?;
    let _ = execute!(io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, opts, key, review);
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

/// A panic is written to the log (with a backtrace) before ratatui's hook restores the
/// terminal and prints it. Panic messages come from code, not from patient data.
fn install_panic_log() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let bt = std::backtrace::Backtrace::force_capture();
        tracing::error!("panic: {info}\n{bt}");
        previous(info);
        if let Some(dir) = crate::key::data_dir() {
            eprintln!(
                "dams stopped unexpectedly; the report is in {}",
                dir.join("dams.log").display()
            );
        }
    }));
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    opts: Options,
    key: KeyStore,
    review: ReviewState,
) -> Result<(), TuiError> {
    let started = Instant::now();
    let (tx, rx): (Sender<Msg>, Receiver<Msg>) = mpsc::channel();
    let mut app = App::new(opts.clone(), key, review, theme::Theme::from_env());
    let size = terminal.size()?;
    app.update(Msg::Resize(size.width, size.height));

    spawn_input(tx.clone());
    spawn_scan(&opts, tx.clone());
    let view_worker = DiffWorker::new(tx.clone());
    let confirm_worker = DiffWorker::new(tx.clone());
    let cancel = Arc::new(AtomicBool::new(false));
    let mut writer: Option<JoinHandle<()>> = None;

    let mut first_frame = true;
    let mut key_at: Option<Instant> = None;
    let mut latencies: Vec<Duration> = Vec::new();
    loop {
        terminal.draw(|f| view::draw(f, &app))?;
        if first_frame {
            first_frame = false;
            tracing::info!(ms = started.elapsed().as_millis() as u64, "first frame drawn");
        }
        if let Some(t) = key_at.take() {
            latencies.push(t.elapsed());
        }
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        // What the user did goes first; results of background work after it.
        batch.sort_by_key(|m| !matches!(m, Msg::Key(_) | Msg::Mouse(_) | Msg::Resize(..)));
        let mut quit = false;
        for msg in batch {
            if matches!(msg, Msg::Key(_)) && key_at.is_none() {
                key_at = Some(Instant::now());
            }
            for effect in app.update(msg) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::Diff {
                        generation,
                        for_confirm,
                        request,
                    } => {
                        let w = if for_confirm { &confirm_worker } else { &view_worker };
                        w.submit(generation, request);
                    }
                    Effect::Write {
                        index,
                        planner,
                        patients,
                    } => {
                        cancel.store(false, Ordering::Relaxed);
                        writer = Some(spawn_write(&opts, index, planner, patients, cancel.clone(), tx.clone()));
                    }
                    Effect::CancelWrite => cancel.store(true, Ordering::Relaxed),
                }
            }
        }
        if quit {
            if let Some(w) = writer.take() {
                // Files in flight are finished; nothing partial is left behind.
                cancel.store(true, Ordering::Relaxed);
                let _ = w.join();
            }
            break;
        }
    }
    if !latencies.is_empty() {
        latencies.sort();
        tracing::info!(
            keys = latencies.len(),
            median_ms = latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
            max_ms = latencies[latencies.len() - 1].as_secs_f64() * 1000.0,
            "key press to frame"
        );
    }
    Ok(())
}

fn spawn_input(tx: Sender<Msg>) {
    thread::spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Mouse(m)) => Msg::Mouse(m),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
}

/// Scans in the background, sending results in batches as they arrive.
fn spawn_scan(opts: &Options, tx: Sender<Msg>) {
    let root = opts.root.clone();
    let exclude = vec![opts.out.clone()];
    thread::spawn(move || {
        let started = Instant::now();
        match scan::discover(&root, &ScanOptions { exclude }) {
            Err(e) => {
                let _ = tx.send(Msg::ScanFailed(e.to_string()));
            }
            Ok((files, problems)) => {
                let _ = tx.send(Msg::ScanTotal(files.len() + problems.len()));
                if !problems.is_empty() {
                    let _ = tx.send(Msg::ScanBatch(problems.into_iter().map(Outcome::Unreadable).collect()));
                }
                let work = || {
                    files.par_chunks(64).for_each(|chunk| {
                        let outcomes = chunk.iter().map(|rel| scan::read_one(&root, rel)).collect();
                        let _ = tx.send(Msg::ScanBatch(outcomes));
                    })
                };
                match background_pool() {
                    Some(pool) => pool.install(work),
                    None => work(),
                }
                tracing::info!(
                    files = files.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "scan finished"
                );
                let _ = tx.send(Msg::ScanDone);
            }
        }
    });
}

/// Worker threads for the background scan, at a lower priority than the UI thread: they use
/// every idle cycle, but a key press gets the CPU at once.
fn background_pool() -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("dams-scan-{i}"))
        .start_handler(|_| lower_priority())
        .build()
        .ok()
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: on Linux, setpriority on a thread id changes only that thread's nice value.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// Plans diffs off the UI thread; when requests pile up only the newest is computed.
struct DiffWorker {
    tx: Sender<(u64, app::DiffRequest)>,
}

impl DiffWorker {
    fn new(out: Sender<Msg>) -> DiffWorker {
        let (tx, rx) = mpsc::channel::<(u64, app::DiffRequest)>();
        thread::spawn(move || {
            while let Ok(mut job) = rx.recv() {
                while let Ok(newer) = rx.try_recv() {
                    job = newer;
                }
                let data = app::compute_diff(&job.1);
                if out
                    .send(Msg::Diff {
                        generation: job.0,
                        data,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        DiffWorker { tx }
    }

    fn submit(&self, generation: u64, request: app::DiffRequest) {
        let _ = self.tx.send((generation, request));
    }
}

fn spawn_write(
    opts: &Options,
    index: Arc<crate::scan::Index>,
    planner: Arc<crate::plan::Planner>,
    patients: std::collections::BTreeSet<String>,
    cancel: Arc<AtomicBool>,
    tx: Sender<Msg>,
) -> JoinHandle<()> {
    let opts = opts.clone();
    thread::spawn(move || {
        let last = Mutex::new(Instant::now() - Duration::from_secs(1));
        let progress = |done: usize, total: usize| {
            if let Ok(mut l) = last.lock()
                && (l.elapsed() >= Duration::from_millis(40) || done == total)
            {
                *l = Instant::now();
                let _ = tx.send(Msg::WriteProgress { done, total });
            }
        };
        let result = KeyStore::open(&opts.key_path)
            .map_err(|e| e.to_string())
            .and_then(|mut key| {
                apply::apply(
                    &index,
                    &planner,
                    &mut key,
                    &Target::Folder(opts.out.clone()),
                    Some(&patients),
                    &progress,
                    &cancel,
                )
                .map_err(|e| e.to_string())
            });
        if let Ok(r) = &result {
            tracing::info!(
                written = r.written,
                failed = r.failed.len(),
                cancelled = r.cancelled,
                "tui write"
            );
        }
        let _ = tx.send(Msg::WriteDone(result));
    })
}
