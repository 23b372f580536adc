//! The accept loop: allow-list, session cap, bounded wait for a slot, drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::allow::in_networks;
use crate::phase::{Phase, PhaseWatch};
use crate::shutdown::ShutdownSignal;

/// Pause after a failed `accept` (e.g. out of file descriptors) before the next one.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Longest time a [`Service::refuse`] may take: a client that does not read is not waited for.
pub const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long sessions still get after the drain deadline to notice [`Phase::Abort`] and end.
pub const ABORT_GRACE: Duration = Duration::from_secs(5);

/// Settings of one listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The listener's name in the log (field `listener`), e.g. `smtp`.
    pub name: &'static str,
    /// Most concurrent sessions (at most `u32::MAX`).
    pub max_sessions: usize,
    /// How long a connection over `max_sessions` waits for a session to end before it is
    /// refused [`Refusal::Busy`]. At most `max_sessions` connections wait at once; more are
    /// refused at once.
    pub session_wait: Duration,
    /// Networks allowed to connect; others are refused [`Refusal::NotAllowed`].
    pub allowed_clients: Vec<IpNet>,
    /// How long sessions may go on after shutdown begins ([`Phase::Draining`]) before they
    /// are told to stop ([`Phase::Abort`]).
    pub drain_timeout: Duration,
}

/// Why a connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The peer is outside [`ListenerConfig::allowed_clients`].
    NotAllowed,
    /// Every session slot stayed taken (see [`ListenerConfig::session_wait`]).
    Busy,
}

/// Where connections come from: a bound [`TcpListener`], or an in-memory double in tests.
pub trait Accept: Send + 'static {
    /// One accepted connection.
    type Conn: Send + 'static;

    /// The next connection and its peer.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Conn, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    type Conn = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self).await
    }
}

/// The protocol a listener speaks: the seam to the SMTP server, the policy service, ...
pub trait Service<C>: Send + Sync + 'static {
    /// Runs one session to its end. `phase` says when to stop: between requests once
    /// [`Phase::Draining`], at once (telling the client where the protocol can) at
    /// [`Phase::Abort`]. The session's slot is free again when this returns.
    fn serve(
        self: Arc<Self>,
        conn: C,
        peer: SocketAddr,
        phase: PhaseWatch,
    ) -> impl Future<Output = ()> + Send;

    /// Tells a client it will not be served, in the protocol's words, and closes. Cut off
    /// after [`REFUSAL_TIMEOUT`].
    fn refuse(&self, conn: C, why: Refusal) -> impl Future<Output = ()> + Send;
}

/// One listener's accept loop, session cap and drain.
pub struct Listener {
    config: ListenerConfig,
    max_sessions: u32,
    phase: watch::Sender<Phase>,
    sessions: Arc<Semaphore>,
    waiters: Arc<Semaphore>,
}

impl Listener {
    /// A listener with `config`, not yet serving.
    pub fn new(config: ListenerConfig) -> Self {
        let max_sessions = u32::try_from(config.max_sessions).unwrap_or(u32::MAX);
        Listener {
            config,
            max_sessions,
            phase: watch::Sender::new(Phase::Running),
            sessions: Arc::new(Semaphore::new(max_sessions as usize)),
            waiters: Arc::new(Semaphore::new(max_sessions as usize)),
        }
    }

    /// Serves connections from `socket` with `service` until `shutdown` is triggered; then
    /// closes `socket` and drains: sessions go on until the drain deadline, after which
    /// they are told to stop ([`Phase::Abort`]) and get [`ABORT_GRACE`] to end. Returns when
    /// every session ended or that grace passed too (sessions left then run on detached).
    pub async fn serve<A, S>(self, mut socket: A, shutdown: ShutdownSignal, service: Arc<S>)
    where
        A: Accept,
        S: Service<A::Conn>,
    {
        tokio::select! {
            () = self.accept_loop(&mut socket, &service) => {}
            () = shutdown.triggered() => {}
        }
        drop(socket);
        self.drain().await;
    }

    async fn accept_loop<A, S>(&self, socket: &mut A, service: &Arc<S>)
    where
        A: Accept,
        S: Service<A::Conn>,
    {
        loop {
            match socket.accept().await {
                Ok((conn, peer)) => self.admit(conn, peer, service),
                Err(err) => {
                    tracing::warn!(listener = self.config.name, error = %err, "Accepting a connection failed.");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    /// Refuses a peer outside the allow-list; otherwise serves it in a free slot or lets it
    /// wait for one.
    fn admit<C, S>(&self, conn: C, peer: SocketAddr, service: &Arc<S>)
    where
        C: Send + 'static,
        S: Service<C>,
    {
        if !in_networks(&self.config.allowed_clients, peer.ip()) {
            tracing::warn!(listener = self.config.name, %peer, "Refused a client outside the allow-list.");
            tokio::spawn(refuse(Arc::clone(service), conn, Refusal::NotAllowed));
            return;
        }
        match Arc::clone(&self.sessions).try_acquire_owned() {
            Ok(slot) => {
                let session = session(Arc::clone(service), conn, peer, self.watch(), slot);
                tokio::spawn(session);
            }
            Err(_) => self.wait_for_slot(conn, peer, service),
        }
    }

    /// A connection over the session limit waits up to `session_wait` for a slot, then is
    /// served or refused; when too many already wait, it is refused at once.
    fn wait_for_slot<C, S>(&self, conn: C, peer: SocketAddr, service: &Arc<S>)
    where
        C: Send + 'static,
        S: Service<C>,
    {
        let (name, limit) = (self.config.name, self.config.max_sessions);
        let service = Arc::clone(service);
        let Ok(waiter) = Arc::clone(&self.waiters).try_acquire_owned() else {
            tracing::warn!(listener = name, %peer, limit, "Refused a session over the limit.");
            tokio::spawn(refuse(service, conn, Refusal::Busy));
            return;
        };
        let (sessions, wait, phase) = (
            Arc::clone(&self.sessions),
            self.config.session_wait,
            self.watch(),
        );
        tokio::spawn(async move {
            let slot = timeout(wait, sessions.acquire_owned()).await;
            drop(waiter);
            match slot {
                Ok(Ok(slot)) => session(service, conn, peer, phase, slot).await,
                _ => {
                    tracing::warn!(listener = name, %peer, limit, "Refused a session over the limit.");
                    refuse(service, conn, Refusal::Busy).await;
                }
            }
        });
    }

    fn watch(&self) -> PhaseWatch {
        PhaseWatch::new(self.phase.subscribe())
    }

    /// Waits for every slot to be free: up to the drain deadline, then after telling the
    /// sessions left to stop, up to [`ABORT_GRACE`].
    async fn drain(&self) {
        let name = self.config.name;
        self.phase.send_replace(Phase::Draining);
        tracing::info!(
            listener = name,
            deadline_secs = self.config.drain_timeout.as_secs(),
            "Shutting down: finishing messages in flight."
        );
        let all = self.sessions.acquire_many(self.max_sessions);
        if timeout(self.config.drain_timeout, all).await.is_ok() {
            tracing::info!(listener = name, "All sessions finished.");
            return;
        }
        self.phase.send_replace(Phase::Abort);
        tracing::warn!(
            listener = name,
            "Drain deadline passed: telling the sessions left to stop."
        );
        let _ = timeout(ABORT_GRACE, self.sessions.acquire_many(self.max_sessions)).await;
    }
}

/// One session in its slot; the slot is given back when the session ends.
async fn session<C, S: Service<C>>(
    service: Arc<S>,
    conn: C,
    peer: SocketAddr,
    phase: PhaseWatch,
    slot: OwnedSemaphorePermit,
) {
    service.serve(conn, peer, phase).await;
    drop(slot);
}

async fn refuse<C, S: Service<C>>(service: Arc<S>, conn: C, why: Refusal) {
    let _ = timeout(REFUSAL_TIMEOUT, service.refuse(conn, why)).await;
}
