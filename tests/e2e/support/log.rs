//! The controller's own log, kept per test and printed when the test fails: a failed wait
//! then shows what the controller was doing, not only what the test saw.
//!
//! Each `#[tokio::test]` runs on a thread of its own with a current-thread runtime, so the
//! controllers a test starts run on its thread too: a thread-local subscriber holds exactly
//! that test's log (a test on a multi-threaded runtime keeps only what runs on its thread).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Lines kept: the newest.
const KEPT: usize = 400;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<VecDeque<String>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.0.lock().expect("log lock");
        for line in String::from_utf8_lossy(buf).lines().filter(|l| !l.is_empty()) {
            if lines.len() == KEPT {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

thread_local! {
    static CAPTURE: std::cell::OnceCell<(Lines, tracing::subscriber::DefaultGuard)> = const { std::cell::OnceCell::new() };
}

/// Starts keeping this thread's log (once per test thread).
pub fn capture() {
    CAPTURE.with(|capture| {
        capture.get_or_init(|| {
            let lines = Lines::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(lines.clone())
                .with_ansi(false)
                .with_env_filter("info,trailwarden=debug")
                .finish();
            (lines, tracing::subscriber::set_default(subscriber))
        });
    });
}

/// Prints the kept log to stderr when this thread is unwinding from a failed assertion.
pub fn print_if_failing() {
    if !std::thread::panicking() {
        return;
    }
    CAPTURE.with(|capture| {
        if let Some((lines, _)) = capture.get() {
            let lines = lines.0.lock().map(|l| l.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
            eprintln!("---- the controller's log, last {} lines ----\n{}", lines.len(), lines.join("\n"));
        }
    });
}
