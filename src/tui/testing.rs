//! Drives the TUI's model without a terminal, running every effect synchronously: for
//! snapshot tests on ratatui's TestBackend and for scripted reviews.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Effect, Msg, Options, compute_diff};
use super::theme::Theme;
use super::view;
use crate::apply::{self, Target};
use crate::key::KeyStore;
use crate::review::ReviewState;
use crate::scan::{self, Outcome, ScanOptions};

pub struct Harness {
    pub app: App,
    terminal: Terminal<TestBackend>,
    pub quit: bool,
}

impl Harness {
    /// A model over `opts`, scanned completely, drawn at `width`×`height`, without colour.
    pub fn new(opts: Options, width: u16, height: u16) -> Harness {
        let key = KeyStore::open_or_create(&opts.key_path).expect("key store");
        let review = ReviewState::open(&key).expect("review state");
        let root = opts.root.clone();
        let exclude = vec![opts.out.clone()];
        let app = App::new(opts, key, review, Theme::plain());
        let terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        let mut h = Harness {
            app,
            terminal,
            quit: false,
        };
        h.send(Msg::Resize(width, height));
        let (files, problems) = scan::discover(&root, &ScanOptions { exclude }).expect("scan");
        h.send(Msg::ScanTotal(files.len() + problems.len()));
        let mut outcomes: Vec<Outcome> = problems.into_iter().map(Outcome::Unreadable).collect();
        outcomes.extend(files.iter().map(|rel| scan::read_one(&root, rel)));
        h.send(Msg::ScanBatch(outcomes));
        h.send(Msg::ScanDone);
        h
    }

    /// Handles a message and every effect it leads to, to completion.
    pub fn send(&mut self, msg: Msg) {
        let mut queue = vec![msg];
        while let Some(m) = queue.pop() {
            for effect in self.app.update(m) {
                match effect {
                    Effect::Quit => self.quit = true,
                    Effect::Diff {
                        generation, request, ..
                    } => {
                        queue.push(Msg::Diff {
                            generation,
                            data: compute_diff(&request),
                        });
                    }
                    Effect::Write {
                        index,
                        planner,
                        patients,
                    } => queue.push(Msg::WriteDone(write(&self.app.opts, &index, &planner, &patients))),
                    Effect::CancelWrite => {}
                }
            }
        }
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

fn write(
    opts: &Options,
    index: &crate::scan::Index,
    planner: &crate::plan::Planner,
    patients: &BTreeSet<String>,
) -> Result<apply::ApplyReport, String> {
    let mut key = KeyStore::open(&opts.key_path).map_err(|e| e.to_string())?;
    apply::apply(
        index,
        planner,
        &mut key,
        &Target::Folder(opts.out.clone()),
        Some(patients),
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .map_err(|e| e.to_string())
}
