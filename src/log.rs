//! Logging hook: silent by default; a callback and a level, or `PEERWIRE_LOG=<level>` for
//! quick debugging on stderr. The library never writes to stdout or stderr otherwise.

use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, RwLock};

/// Severity, most severe first.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum peerwire_log_level {
    PEERWIRE_LOG_OFF = 0,
    PEERWIRE_LOG_ERROR = 1,
    PEERWIRE_LOG_WARN = 2,
    PEERWIRE_LOG_INFO = 3,
    PEERWIRE_LOG_DEBUG = 4,
    PEERWIRE_LOG_TRACE = 5,
}
pub use peerwire_log_level as Level;

impl Level {
    pub fn from_i32(v: i32) -> Option<Level> {
        use Level::*;
        Some(match v {
            0 => PEERWIRE_LOG_OFF,
            1 => PEERWIRE_LOG_ERROR,
            2 => PEERWIRE_LOG_WARN,
            3 => PEERWIRE_LOG_INFO,
            4 => PEERWIRE_LOG_DEBUG,
            5 => PEERWIRE_LOG_TRACE,
            _ => return None,
        })
    }
    fn parse(s: &str) -> Level {
        use Level::*;
        match s.trim().to_ascii_lowercase().as_str() {
            "error" | "1" => PEERWIRE_LOG_ERROR,
            "warn" | "warning" | "2" => PEERWIRE_LOG_WARN,
            "info" | "3" => PEERWIRE_LOG_INFO,
            "debug" | "4" => PEERWIRE_LOG_DEBUG,
            "trace" | "5" => PEERWIRE_LOG_TRACE,
            _ => PEERWIRE_LOG_OFF,
        }
    }
    fn name(self) -> &'static str {
        use Level::*;
        match self {
            PEERWIRE_LOG_OFF => "off",
            PEERWIRE_LOG_ERROR => "error",
            PEERWIRE_LOG_WARN => "warn",
            PEERWIRE_LOG_INFO => "info",
            PEERWIRE_LOG_DEBUG => "debug",
            PEERWIRE_LOG_TRACE => "trace",
        }
    }
}

/// A log sink. Called from any thread; must not call back into the logging setter.
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

struct Logger {
    sink: Option<Sink>,
}

/// The level asked for by `PEERWIRE_LOG` (off when unset).
static ENV_LEVEL: Lazy<Level> =
    Lazy::new(|| std::env::var("PEERWIRE_LOG").map(|v| Level::parse(&v)).unwrap_or(Level::PEERWIRE_LOG_OFF));

static LEVEL: Lazy<AtomicI32> = Lazy::new(|| AtomicI32::new(*ENV_LEVEL as i32));

static LOGGER: Lazy<RwLock<Logger>> = Lazy::new(|| {
    let sink: Option<Sink> = if *ENV_LEVEL != Level::PEERWIRE_LOG_OFF {
        Some(Arc::new(|level: Level, msg: &str| eprintln!("peerwire {}: {}", level.name(), msg)))
    } else {
        None
    };
    RwLock::new(Logger { sink })
});

/// Installs `sink` at `level` (or removes the sink with `None`). Returns once no call to the
/// previous sink is still running, so its state may be released right after.
pub fn set_sink(sink: Option<Sink>, level: Level) {
    let mut l = LOGGER.write().unwrap_or_else(|e| e.into_inner());
    l.sink = sink;
    LEVEL.store(if l.sink.is_some() { level as i32 } else { 0 }, Ordering::Release);
}

/// Whether a message at `level` would be emitted.
#[inline]
pub fn enabled(level: Level) -> bool {
    (level as i32) <= LEVEL.load(Ordering::Relaxed)
}

/// Emits a message; use the `log!` macro so the text is only built when enabled.
pub fn emit(level: Level, msg: &str) {
    let l = LOGGER.read().unwrap_or_else(|e| e.into_inner());
    if let Some(sink) = &l.sink {
        sink(level, msg);
    }
}

/// Calls `make` and emits its text only when `level` is enabled.
#[inline]
pub fn log_with(level: Level, make: impl FnOnce() -> String) {
    if enabled(level) {
        emit(level, &make());
    }
}

/// `log!(debug, "fmt", args)`; levels: error, warn, info, debug, trace.
macro_rules! log {
    (error, $($a:tt)*) => { $crate::log::log_with($crate::log::Level::PEERWIRE_LOG_ERROR, || format!($($a)*)) };
    (warn, $($a:tt)*) => { $crate::log::log_with($crate::log::Level::PEERWIRE_LOG_WARN, || format!($($a)*)) };
    (info, $($a:tt)*) => { $crate::log::log_with($crate::log::Level::PEERWIRE_LOG_INFO, || format!($($a)*)) };
    (debug, $($a:tt)*) => { $crate::log::log_with($crate::log::Level::PEERWIRE_LOG_DEBUG, || format!($($a)*)) };
    (trace, $($a:tt)*) => { $crate::log::log_with($crate::log::Level::PEERWIRE_LOG_TRACE, || format!($($a)*)) };
}
pub(crate) use log;
