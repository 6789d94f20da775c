//! Drives the review screen without a terminal, running every effect in line with the same
//! `effects` the runtime uses: for snapshot tests on ratatui's `TestBackend` and scripted
//! reviews. A write can be held, to see the screen while it runs, and cancelled.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::App;
use super::effects::{self, Options, Planning, Saving, Scanner, SendWorker, Writer};
use super::messages::{Effect, Msg, SendJob, WriteJob};
use super::theme::Theme;
use super::view;

pub struct Harness {
    pub app: App,
    terminal: Terminal<TestBackend>,
    pub quit: bool,
    /// Keep writes waiting until `finish_write` (to look at the screen while writing).
    pub hold_writes: bool,
    held: Option<WriteJob>,
    /// Keep sends waiting until `finish_send`.
    pub hold_sends: bool,
    held_send: Option<SendJob>,
    /// The screen asked to cancel the write.
    pub cancel_asked: bool,
    root: std::path::PathBuf,
    planning: Planning,
    saving: Saving,
    writer: Writer,
    scanner: Scanner,
    sender: SendWorker,
}

impl Harness {
    /// The screen over `opts`, scanned completely, drawn at `width`×`height`, without colour.
    ///
    /// # Panics
    ///
    /// When the key store or the review state of `opts` cannot be opened, or the test terminal
    /// cannot be made.
    #[must_use]
    pub fn new(opts: Options, width: u16, height: u16) -> Harness {
        let opened = effects::open(&opts).expect("open the key store and review state");
        let (app, first) = App::init(opened.init, Theme::plain());
        let terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        let mut h = Harness {
            app,
            terminal,
            quit: false,
            hold_writes: false,
            held: None,
            hold_sends: false,
            held_send: None,
            cancel_asked: false,
            root: opts.root.clone(),
            planning: opened.planning,
            saving: opened.saving,
            writer: opened.writer,
            scanner: opened.scanner,
            sender: opened.sender,
        };
        h.send(Msg::Resize(width, height));
        h.run(first);
        h
    }

    /// Handles a message and every message its effects lead to, in order, to completion.
    pub fn send(&mut self, msg: Msg) {
        let mut queue = VecDeque::from([msg]);
        while let Some(m) = queue.pop_front() {
            let effects = self.app.update(m);
            queue.extend(self.carry_out(effects));
        }
    }

    fn run(&mut self, effects: Vec<Effect>) {
        for m in self.carry_out(effects) {
            self.send(m);
        }
    }

    fn carry_out(&mut self, effects: Vec<Effect>) -> Vec<Msg> {
        let mut out = Vec::new();
        for effect in effects {
            match effect {
                Effect::Quit => self.quit = true,
                Effect::Scan => {
                    let found = Mutex::new(Vec::new());
                    let send = |m: Msg| found.lock().expect("scan results").push(m);
                    self.scanner.run(&send, None);
                    out.extend(found.into_inner().expect("scan results"));
                }
                Effect::Prepare(job) => out.push(self.planning.run(job)),
                Effect::Diff {
                    generation, request, ..
                } => out.push(Msg::Diff {
                    generation,
                    data: effects::diff(&self.root, &request),
                }),
                Effect::Save(changes) => out.push(self.saving.run(&changes)),
                Effect::Write(job) if self.hold_writes => self.held = Some(job),
                Effect::Write(job) => out.push(self.writer.run(&job, &|_, _| {}, &AtomicBool::new(false))),
                Effect::CancelWrite => self.cancel_asked = true,
                Effect::ListNodes(patients) => out.push(self.sender.nodes(patients)),
                Effect::Send(job) if self.hold_sends => self.held_send = Some(job),
                Effect::Send(job) => out.extend(self.run_send(&job)),
            }
        }
        out
    }

    /// Runs the held write: cancelled after `cancel_after` files if given (or at once, if the
    /// screen asked to cancel it), with the progress the screen would see.
    pub fn finish_write(&mut self, cancel_after: Option<usize>) {
        let Some(job) = self.held.take() else { return };
        let cancel = AtomicBool::new(self.cancel_asked);
        let seen = Mutex::new(Vec::new());
        let progress = |done: usize, total: usize| {
            if cancel_after.is_some_and(|n| done >= n) {
                cancel.store(true, Ordering::Relaxed);
            }
            if let Ok(mut s) = seen.lock() {
                s.push(Msg::WriteProgress { done, total });
            }
        };
        let done = self.writer.run(&job, &progress, &cancel);
        for m in seen.into_inner().unwrap_or_default() {
            self.send(m);
        }
        self.send(done);
    }

    /// A send's progress as the screen would see it, then its end.
    fn run_send(&self, job: &SendJob) -> Vec<Msg> {
        let seen = Mutex::new(Vec::new());
        let progress = |stage, done, total| {
            if let Ok(mut s) = seen.lock() {
                s.push(Msg::SendProgress { stage, done, total });
            }
        };
        let done = self.sender.run(job, &progress, &AtomicBool::new(self.cancel_asked));
        let mut out = seen.into_inner().unwrap_or_default();
        out.push(done);
        out
    }

    /// Runs the held send.
    pub fn finish_send(&mut self) {
        let Some(job) = self.held_send.take() else { return };
        for m in self.run_send(&job) {
            self.send(m);
        }
    }

    /// Shows the write's progress as the runtime would report it.
    pub fn progress(&mut self, done: usize, total: usize) {
        self.send(Msg::WriteProgress { done, total });
    }

    pub fn key(&mut self, code: KeyCode) {
        self.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    /// Presses the characters of `s` one by one.
    pub fn type_keys(&mut self, s: &str) {
        for c in s.chars() {
            let mods = if c.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            self.send(Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)));
        }
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.terminal.backend_mut().resize(width, height);
        self.send(Msg::Resize(width, height));
    }

    /// The screen as text, one line per row, trailing spaces removed.
    ///
    /// # Panics
    ///
    /// When the test terminal cannot draw.
    pub fn render(&mut self) -> String {
        let app = &self.app;
        self.terminal.draw(|f| view::draw(f, app)).expect("draw");
        let buf = self.terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
