//! The listener's accept loop, session cap, allow-list and drain, in virtual time.
//!
//! Connections are in-memory pipes handed to the listener through a test [`Accept`]: with
//! real sockets, tokio's paused clock jumps to the next timer while the kernel still holds
//! a connection, and a session's wait would end before its time.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quarantd_runtime::{
    Accept, Listener, ListenerConfig, Phase, PhaseWatch, Refusal, Service, ShutdownSignal,
    ACCEPT_BACKOFF,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const SESSION_WAIT: Duration = Duration::from_secs(2);
const DRAIN: Duration = Duration::from_secs(30);

fn config(max_sessions: usize) -> ListenerConfig {
    ListenerConfig {
        name: "test",
        max_sessions,
        session_wait: SESSION_WAIT,
        allowed_clients: vec!["127.0.0.0/8".parse().unwrap()],
        drain_timeout: DRAIN,
    }
}

/// Connections (or accept errors) the test hands in.
struct Connections(mpsc::UnboundedReceiver<io::Result<(DuplexStream, SocketAddr)>>);

impl Accept for Connections {
    type Conn = DuplexStream;

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        match self.0.recv().await {
            Some(next) => next,
            None => std::future::pending().await,
        }
    }
}

/// A service whose sessions say `served`, then hold their slot until the test opens the
/// gate (`done`) or the listener reaches [`Phase::Abort`] (`stopped`). Refusals say `denied`
/// or `busy`.
struct Gate {
    open: Semaphore,
    served: AtomicUsize,
}

impl Gate {
    fn new() -> Self {
        Gate {
            open: Semaphore::new(0),
            served: AtomicUsize::new(0),
        }
    }

    /// Lets `n` sessions end.
    fn release(&self, n: usize) {
        self.open.add_permits(n);
    }
}

impl Service<DuplexStream> for Gate {
    async fn serve(self: Arc<Self>, mut conn: DuplexStream, _: SocketAddr, phase: PhaseWatch) {
        self.served.fetch_add(1, Ordering::SeqCst);
        let _ = conn.write_all(b"served\n").await;
        let word: &[u8] = tokio::select! {
            permit = self.open.acquire() => {
                permit.expect("gate open").forget();
                b"done\n"
            }
            () = phase.reached(Phase::Abort) => b"stopped\n",
        };
        let _ = conn.write_all(word).await;
    }

    async fn refuse(&self, mut conn: DuplexStream, why: Refusal) {
        let word: &[u8] = match why {
            Refusal::NotAllowed => b"denied\n",
            Refusal::Busy => b"busy\n",
        };
        let _ = conn.write_all(word).await;
    }
}

/// A listener serving [`Gate`] on test connections.
struct Harness {
    connections: mpsc::UnboundedSender<io::Result<(DuplexStream, SocketAddr)>>,
    gate: Arc<Gate>,
    shutdown: ShutdownSignal,
    served: JoinHandle<()>,
}

impl Harness {
    fn start(config: ListenerConfig) -> Self {
        Self::start_with(config, ShutdownSignal::new())
    }

    fn start_with(config: ListenerConfig, shutdown: ShutdownSignal) -> Self {
        let (connections, incoming) = mpsc::unbounded_channel();
        let gate = Arc::new(Gate::new());
        let listener = Listener::new(config);
        let served = tokio::spawn(listener.serve(
            Connections(incoming),
            shutdown.clone(),
            Arc::clone(&gate),
        ));
        Harness {
            connections,
            gate,
            shutdown,
            served,
        }
    }

    /// A client connecting from `peer`; after shutdown its connection is never accepted.
    fn connect(&self, peer: &str) -> DuplexStream {
        let (client, server) = tokio::io::duplex(1024);
        let _ = self.connections.send(Ok((server, peer.parse().unwrap())));
        client
    }

    fn fail_accept(&self) {
        let _ = self
            .connections
            .send(Err(io::Error::other("out of descriptors")));
    }
}

/// The next line the client reads, without its newline; empty at the end of the stream.
async fn line(conn: &mut DuplexStream) -> String {
    let mut line = Vec::new();
    while let Ok(byte) = conn.read_u8().await {
        if byte == b'\n' {
            break;
        }
        line.push(byte);
    }
    String::from_utf8(line).unwrap()
}

#[tokio::test(start_paused = true)]
async fn over_the_cap_a_client_waits_for_a_slot_then_is_refused_busy() {
    let h = Harness::start(config(1));
    let mut first = h.connect("127.0.0.1:1001");
    assert_eq!(line(&mut first).await, "served");

    let start = Instant::now();
    let mut second = h.connect("127.0.0.1:1002");
    let mut third = h.connect("127.0.0.1:1003");
    assert_eq!(
        line(&mut third).await,
        "busy",
        "one may wait (max_sessions), not two"
    );
    assert_eq!(line(&mut third).await, "", "closed after the refusal");
    assert!(start.elapsed() < SESSION_WAIT, "refused at once");

    tokio::time::sleep(Duration::from_secs(1)).await;
    h.gate.release(1);
    assert_eq!(line(&mut first).await, "done");
    assert_eq!(
        line(&mut second).await,
        "served",
        "the waiting client got the slot"
    );
    assert!(start.elapsed() < SESSION_WAIT);

    let waited = Instant::now();
    let mut fourth = h.connect("127.0.0.1:1004");
    assert_eq!(line(&mut fourth).await, "busy");
    assert!(waited.elapsed() >= SESSION_WAIT, "{:?}", waited.elapsed());
    assert_eq!(h.gate.served.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_drain_lets_sessions_go_on_until_the_deadline_then_stops_them() {
    let h = Harness::start(config(2));
    let mut a = h.connect("127.0.0.1:1001");
    let mut b = h.connect("127.0.0.1:1002");
    assert_eq!(line(&mut a).await, "served");
    assert_eq!(line(&mut b).await, "served");

    let start = Instant::now();
    h.shutdown.trigger();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!h.served.is_finished(), "two sessions in flight");
    let mut late = h.connect("127.0.0.1:1003");
    assert_eq!(line(&mut late).await, "", "no new connection is accepted");

    h.gate.release(1);
    assert_eq!(
        line(&mut a).await,
        "done",
        "a session finishes its work while draining"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!h.served.is_finished(), "one session still in flight");

    assert_eq!(
        line(&mut b).await,
        "stopped",
        "told to stop at the deadline"
    );
    assert!(start.elapsed() >= DRAIN, "{:?}", start.elapsed());
    h.served.await.unwrap();
    assert!(start.elapsed() < DRAIN + Duration::from_secs(1));
    assert_eq!(h.gate.served.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_drain_ends_when_the_last_session_does() {
    let h = Harness::start(config(4));
    let mut a = h.connect("127.0.0.1:1001");
    assert_eq!(line(&mut a).await, "served");
    let start = Instant::now();
    h.shutdown.trigger();
    tokio::time::sleep(Duration::from_secs(3)).await;
    h.gate.release(1);
    h.served.await.unwrap();
    assert_eq!(line(&mut a).await, "done");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn clients_outside_the_allow_list_are_refused_without_taking_a_slot() {
    let h = Harness::start(config(1));
    let mut outside = h.connect("192.0.2.1:1001");
    assert_eq!(line(&mut outside).await, "denied");
    assert_eq!(line(&mut outside).await, "");
    let mut mapped = h.connect("[::ffff:192.0.2.1]:1002");
    assert_eq!(line(&mut mapped).await, "denied");

    let start = Instant::now();
    let mut inside = h.connect("[::ffff:127.0.0.1]:1003");
    assert_eq!(line(&mut inside).await, "served");
    assert_eq!(start.elapsed(), Duration::ZERO, "the slot was free");
    assert_eq!(h.gate.served.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_accept_backs_off_and_the_loop_goes_on() {
    let h = Harness::start(config(1));
    let start = Instant::now();
    h.fail_accept();
    let mut client = h.connect("127.0.0.1:1001");
    assert_eq!(line(&mut client).await, "served");
    assert_eq!(start.elapsed(), ACCEPT_BACKOFF);
}

#[tokio::test(start_paused = true)]
async fn one_shutdown_signal_stops_every_listener() {
    let shutdown = ShutdownSignal::new();
    let smtp = Harness::start_with(config(1), shutdown.clone());
    let policy = Harness::start_with(config(1), shutdown.clone());
    shutdown.trigger();
    smtp.served.await.unwrap();
    policy.served.await.unwrap();
}
