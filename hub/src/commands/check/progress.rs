//! A progress line for long runs: `reading files 1200/4000` on stderr, redrawn at most ten
//! times a second, only when stderr is a terminal and there is enough work to wait for. Pipes,
//! CI logs and machine-readable stdout never see it.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Below this many items a run is over before a progress line would help.
const MIN_ITEMS: usize = 500;
const REDRAW: Duration = Duration::from_millis(100);

pub(crate) struct Progress {
    label: &'static str,
    total: usize,
    done: AtomicUsize,
    last: Option<Mutex<Instant>>,
}

impl Progress {
    /// A progress line for `total` items, shown only on a terminal with enough items.
    pub(crate) fn new(label: &'static str, total: usize) -> Progress {
        let shown = total >= MIN_ITEMS && std::io::stderr().is_terminal();
        Progress {
            label,
            total,
            done: AtomicUsize::new(0),
            last: shown.then(|| Mutex::new(Instant::now())),
        }
    }

    /// Counts one item done, redrawing the line when it is due.
    pub(crate) fn tick(&self) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(last) = &self.last else { return };
        let Ok(mut last) = last.try_lock() else {
            return;
        };
        if last.elapsed() >= REDRAW || n == self.total {
            *last = Instant::now();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}", line(self.label, n, self.total));
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.last.is_some() {
            // Erase the line so the results start on a clean one.
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

fn line(label: &str, n: usize, total: usize) -> String {
    format!("{label} {n}/{total} ({}%)", n * 100 / total.max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_line_shows_count_and_percentage() {
        assert_eq!(
            super::line("checking documents", 250, 1000),
            "checking documents 250/1000 (25%)"
        );
    }

    #[test]
    fn small_runs_and_non_terminals_show_nothing_but_still_count() {
        let p = super::Progress::new("reading files", 3);
        assert!(p.last.is_none());
        p.tick();
        assert_eq!(p.done.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
