//! The library's tokio runtime: one per process, created on first use, shut down when the
//! last transport is gone (from an application thread; never on one of its own threads).

use crate::error::{Error, Result};
use crate::log::log;
use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

thread_local! {
    static ON_RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on the library's own threads (I/O workers and the blocking pool running handshake
/// callbacks): blocking there could stall I/O or deadlock, so blocking calls are refused.
pub fn on_runtime_thread() -> bool {
    ON_RUNTIME_THREAD.with(|c| c.get())
}

struct State {
    rt: Option<Runtime>,
    users: usize,
    workers: usize,
}

static STATE: Mutex<State> = Mutex::new(State { rt: None, users: 0, workers: 0 });

/// A reference to the runtime; while one exists the runtime stays up.
pub struct RuntimeRef {
    handle: Handle,
}

impl RuntimeRef {
    /// Takes a reference, creating the runtime with `workers` threads (0 = default) if needed.
    /// The first creation decides the thread count; a later different request is logged.
    pub fn acquire(workers: usize) -> Result<RuntimeRef> {
        let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
        // An explicit option wins; then PEERWIRE_WORKERS; then the default.
        let env = std::env::var("PEERWIRE_WORKERS").ok().and_then(|v| v.trim().parse::<usize>().ok());
        let want = match (workers, env) {
            (0, Some(n)) if (1..=crate::limits::MAX_WORKERS).contains(&n) => n,
            (0, _) => crate::limits::default_workers(),
            (n, _) => n,
        };
        if st.rt.is_none() {
            if on_runtime_thread() {
                return Err(Error::in_callback("creating the runtime"));
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(want)
                .max_blocking_threads(crate::limits::MAX_BLOCKING_THREADS)
                .thread_name("peerwire")
                .on_thread_start(|| ON_RUNTIME_THREAD.with(|c| c.set(true)))
                .enable_all()
                .build()
                .map_err(|e| Error::Io(format!("cannot start the runtime: {e}")))?;
            log!(debug, "runtime started with {want} worker threads");
            st.rt = Some(rt);
            st.workers = want;
        } else if workers != 0 && workers != st.workers {
            log!(warn, "runtime already runs {} workers; request for {workers} ignored", st.workers);
        }
        st.users += 1;
        let handle = st.rt.as_ref().map(|rt| rt.handle().clone()).expect("runtime exists");
        Ok(RuntimeRef { handle })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for RuntimeRef {
    fn drop(&mut self) {
        let rt = {
            let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
            st.users = st.users.saturating_sub(1);
            if st.users == 0 && !on_runtime_thread() {
                st.rt.take()
            } else {
                None
            }
        };
        if let Some(rt) = rt {
            rt.shutdown_timeout(Duration::from_millis(500));
            log!(debug, "runtime stopped");
        }
    }
}
