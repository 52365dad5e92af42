//! The signals an operator sends: SIGINT and SIGTERM stop the collector, SIGHUP reloads its
//! configuration.
//!
//! One task turns signals into two things the run loop waits on: a stop token (cancelled
//! once, by the first SIGINT or SIGTERM) and a reload request. The request is a
//! [`Notify`] permit, so the SIGHUPs that arrive while a reload runs collapse into one more
//! reload after it, which reads the files as they are by then.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the run loop waits on.
pub struct Signals {
    pub stop: CancellationToken,
    pub reload: Arc<Notify>,
}

/// Installs the handlers now (from here on SIGHUP no longer ends the process) and returns
/// what they signal. Call it inside the runtime, before the service starts.
pub fn install() -> std::io::Result<Signals> {
    let stop = CancellationToken::new();
    let reload = Arc::new(Notify::new());
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (stop, reload) = (stop.clone(), reload.clone());
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                    _ = hup.recv() => {
                        tracing::info!(signal = "SIGHUP", "reload requested");
                        reload.notify_one();
                        continue;
                    }
                };
                tracing::info!(signal = name, "stopping");
                stop.cancel();
            }
        });
    }
    #[cfg(not(unix))]
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!(signal = "SIGINT", "stopping");
            stop.cancel();
        });
    }
    Ok(Signals { stop, reload })
}
