//! Runs the screen: takes over the terminal, feeds `update` with key presses and the results
//! of work, and carries out its effects on worker threads (scan, plans, diffs, saves, the
//! write), so that the screen answers keys while they run.

use std::io;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;

use super::app::App;
use super::decision::Change;
use super::effects::{self, Opened, Options, Scanner, SendWorker, TuiError, Writer};
use super::messages::{DiffRequest, Effect, Msg, PrepareJob, SendJob, SendStage, WriteJob};
use super::theme::Theme;
use super::view;

/// Runs the review screen until the user quits.
///
/// # Errors
///
/// `TuiError` when the terminal cannot be used or the screen cannot start.
pub fn run(opts: Options) -> Result<(), TuiError> {
    // Everything that can refuse to start does so before the terminal is taken over.
    let opened = effects::open(&opts)?;
    install_panic_log();
    let mut terminal = ratatui::try_init()?;
    let _ = execute!(io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, opened, &opts);
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

fn event_loop(terminal: &mut ratatui::DefaultTerminal, opened: Opened, opts: &Options) -> Result<(), TuiError> {
    let started = Instant::now();
    let (tx, rx): (Sender<Msg>, Receiver<Msg>) = mpsc::channel();
    let Opened {
        init,
        planning,
        saving,
        writer,
        scanner,
        sender,
    } = opened;
    let (mut app, first) = App::init(init, Theme::from_env());
    let size = terminal.size()?;
    let mut pending = app.update(Msg::Resize(size.width, size.height));
    pending.extend(first);
    spawn_input(tx.clone());
    let mut workers = Workers::start(planning, saving, (writer, sender), scanner, opts, tx.clone());
    let mut quit = workers.run_all(pending);

    let mut first_frame = true;
    let mut key_at: Option<Instant> = None;
    let mut latencies: Vec<Duration> = Vec::new();
    while !quit {
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
        for msg in batch {
            if matches!(msg, Msg::Key(_)) && key_at.is_none() {
                key_at = Some(Instant::now());
            }
            let effects = app.update(msg);
            quit |= workers.run_all(effects);
        }
    }
    workers.shutdown();
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

/// The threads that carry out effects.
struct Workers {
    tx: Sender<Msg>,
    scanner: Option<Scanner>,
    plan: Sender<PrepareJob>,
    view_diff: Sender<(u64, DiffRequest)>,
    confirm_diff: Sender<(u64, DiffRequest)>,
    save: Option<(Sender<Vec<Change>>, JoinHandle<()>)>,
    writer: Arc<Writer>,
    sender: Arc<SendWorker>,
    /// The write or send running (one at a time: the screen starts no second one).
    writing: Option<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
}

impl Workers {
    fn start(
        mut planning: effects::Planning,
        mut saving: effects::Saving,
        (writer, sender): (Writer, SendWorker),
        scanner: Scanner,
        opts: &Options,
        tx: Sender<Msg>,
    ) -> Workers {
        let plan = newest_first(tx.clone(), PrepareJob::merge, move |job| planning.run(job));
        let diff = |tx: &Sender<Msg>| {
            let root = opts.root.clone();
            newest_first(
                tx.clone(),
                |_, newer| newer,
                move |(generation, req): (u64, DiffRequest)| Msg::Diff {
                    generation,
                    data: effects::diff(&root, &req),
                },
            )
        };
        let (save_tx, save_rx) = mpsc::channel::<Vec<Change>>();
        let out = tx.clone();
        let saver = thread::spawn(move || {
            while let Ok(changes) = save_rx.recv() {
                let _ = out.send(saving.run(&changes));
            }
        });
        Workers {
            view_diff: diff(&tx),
            confirm_diff: diff(&tx),
            tx,
            scanner: Some(scanner),
            plan,
            save: Some((save_tx, saver)),
            writer: Arc::new(writer),
            sender: Arc::new(sender),
            writing: None,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Carries out the effects; whether one of them was to quit.
    fn run_all(&mut self, effects: Vec<Effect>) -> bool {
        let mut quit = false;
        for e in effects {
            match e {
                Effect::Quit => quit = true,
                Effect::Scan => self.scan(),
                Effect::Prepare(job) => {
                    let _ = self.plan.send(job);
                }
                Effect::Diff {
                    generation,
                    for_confirm,
                    request,
                } => {
                    let w = if for_confirm {
                        &self.confirm_diff
                    } else {
                        &self.view_diff
                    };
                    let _ = w.send((generation, request));
                }
                Effect::Save(changes) => {
                    if let Some((s, _)) = &self.save {
                        let _ = s.send(changes);
                    }
                }
                Effect::Write(job) => self.write(job),
                Effect::CancelWrite => self.cancel.store(true, Ordering::Relaxed),
                Effect::ListNodes(patients) => {
                    let (sender, tx) = (self.sender.clone(), self.tx.clone());
                    thread::spawn(move || {
                        let _ = tx.send(sender.nodes(patients));
                    });
                }
                Effect::Send(job) => self.send(job),
            }
        }
        quit
    }

    fn scan(&mut self) {
        let Some(scanner) = self.scanner.take() else { return };
        let tx = self.tx.clone();
        thread::spawn(move || {
            let send = |m: Msg| {
                let _ = tx.send(m);
            };
            scanner.run(&send, background_pool().as_ref());
        });
    }

    fn write(&mut self, job: WriteJob) {
        self.cancel.store(false, Ordering::Relaxed);
        let (writer, cancel, tx) = (self.writer.clone(), self.cancel.clone(), self.tx.clone());
        self.writing = Some(thread::spawn(move || {
            let last = Mutex::new(Instant::now() - Duration::from_secs(1));
            let progress = |done: usize, total: usize| {
                if let Ok(mut l) = last.lock()
                    && (l.elapsed() >= Duration::from_millis(40) || done == total)
                {
                    *l = Instant::now();
                    let _ = tx.send(Msg::WriteProgress { done, total });
                }
            };
            let _ = tx.send(writer.run(&job, &progress, &cancel));
        }));
    }

    fn send(&mut self, job: SendJob) {
        self.cancel.store(false, Ordering::Relaxed);
        let (sender, cancel, tx) = (self.sender.clone(), self.cancel.clone(), self.tx.clone());
        self.writing = Some(thread::spawn(move || {
            let last = Mutex::new(Instant::now() - Duration::from_secs(1));
            let progress = |stage: SendStage, done: usize, total: usize| {
                if let Ok(mut l) = last.lock()
                    && (l.elapsed() >= Duration::from_millis(40) || done == total)
                {
                    *l = Instant::now();
                    let _ = tx.send(Msg::SendProgress { stage, done, total });
                }
            };
            let _ = tx.send(sender.run(&job, &progress, &cancel));
        }));
    }

    /// Stops what must not be cut off: a write or send still running is cancelled (files in
    /// flight are finished, nothing partial is left), decisions not yet saved are saved.
    fn shutdown(&mut self) {
        if let Some(w) = self.writing.take() {
            self.cancel.store(true, Ordering::Relaxed);
            let _ = w.join();
        }
        if let Some((s, h)) = self.save.take() {
            drop(s);
            let _ = h.join();
        }
    }
}

/// A worker that does jobs one at a time; jobs that pile up while it works are merged
/// (`merge(older, newer)`) so that only the newest state is worked on.
fn newest_first<J: Send + 'static>(
    out: Sender<Msg>,
    merge: fn(J, J) -> J,
    mut work: impl FnMut(J) -> Msg + Send + 'static,
) -> Sender<J> {
    let (tx, rx) = mpsc::channel::<J>();
    thread::spawn(move || {
        while let Ok(mut job) = rx.recv() {
            while let Ok(newer) = rx.try_recv() {
                job = merge(job, newer);
            }
            if out.send(work(job)).is_err() {
                break;
            }
        }
    });
    tx
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
