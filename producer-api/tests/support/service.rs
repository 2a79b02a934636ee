//! A service's `run(config, shutdown)` spawned in this process, with its own shutdown trigger
//! and its admin server on a free port.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct RunningService<E> {
    pub admin: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), E>>,
}

/// A free loopback address for an admin server.
pub fn free_admin_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], super::ports::free_port()))
}

impl<E: std::fmt::Debug + Send + 'static> RunningService<E> {
    /// Spawns `run(shutdown)`, a service whose admin server listens on `admin`.
    pub fn spawn<F>(
        admin: SocketAddr,
        run: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
    ) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        common::telemetry::init_tracing();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async {
            let _ = rx.await;
        })));
        RunningService {
            admin,
            shutdown: Some(tx),
            task,
        }
    }

    /// The value of a metric line that starts with `name` (labels included), 0 if absent.
    pub async fn metric(&self, name: &str) -> f64 {
        super::metrics::metric(self.admin, name).await
    }

    /// Whether `/readyz` answers 503 within `deadline`.
    pub async fn becomes_unready(&self, deadline: Duration) -> bool {
        let url = format!("http://{}/readyz", self.admin);
        super::wait::wait_until(deadline, || {
            let url = url.clone();
            async move { reqwest::get(url).await.is_ok_and(|r| r.status() == 503) }
        })
        .await
    }

    /// Triggers a graceful shutdown and waits for it.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the service stopped within its deadline")
            .unwrap()
            .unwrap();
    }
}
