//! A service's `serve(listener, config, shutdown)` spawned in this process, with its own
//! shutdown trigger and its admin server on a listener bound here to a port of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The shutdown future a test hands its service.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct RunningService<E> {
    pub admin: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), E>>,
}

impl<E: std::fmt::Debug + Send + 'static> RunningService<E> {
    /// Spawns `serve(listener, shutdown)`, a service whose admin server takes `listener`, bound
    /// here to a free loopback port: nothing can take the port between the two.
    pub async fn start<F>(serve: impl FnOnce(TcpListener, Shutdown) -> F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        common::telemetry::init_tracing();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            Box::pin(async {
                let _ = rx.await;
            }),
        ));
        RunningService {
            admin,
            shutdown: Some(tx),
            task,
        }
    }

    /// The value of series `name` (labels included); `None` when not exposed or the service
    /// does not answer (see [`crate::metrics::metric`]).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        crate::metrics::metric(self.admin, name).await
    }

    /// Every series of metric family `family`, as (labels, value); `None` when the service
    /// does not answer.
    pub async fn series(&self, family: &str) -> Option<Vec<(String, f64)>> {
        crate::metrics::series(self.admin, family).await
    }

    /// Whether `/readyz` answers 503 within `deadline`.
    pub async fn becomes_unready(&self, deadline: Duration) -> bool {
        let url = format!("http://{}/readyz", self.admin);
        crate::wait::wait_until(deadline, || {
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
