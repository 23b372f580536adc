//! The policy service on a runtime [`Listener`]: one session per Postfix connection, several
//! requests each, an idle timeout between them, one log line per decision.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use quarantd_policy::Policy;
use quarantd_runtime::{
    Listener, ListenerConfig, Phase, PhaseWatch, Refusal, Service, ShutdownSignal,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::protocol::{answer, Request, RequestReader};
use crate::throttle::{Decision, Throttle, ThrottleConfig};

/// Size of a session's read buffer.
const READ_CHUNK: usize = 4096;

/// The settings of the policy service.
#[derive(Debug, Clone)]
pub struct PolicydConfig {
    /// Most concurrent sessions (Postfix keeps one per smtpd process).
    pub max_sessions: usize,
    /// How long a session waits for its next request.
    pub idle_timeout: Duration,
    /// Networks allowed to connect.
    pub allowed_clients: Vec<IpNet>,
    /// How long sessions may go on after shutdown begins.
    pub drain_timeout: Duration,
    /// Throttling.
    pub throttle: ThrottleConfig,
}

/// What every session shares.
struct Shared {
    idle_timeout: Duration,
    throttle: Mutex<Throttle>,
}

/// The policy service: sessions on its own listener and permits.
pub struct Policyd {
    shared: Arc<Shared>,
    listener: Listener,
}

impl Policyd {
    /// The service with `config`; local domains and networks come from `policy`.
    pub fn new(config: PolicydConfig, policy: Arc<Policy>) -> Self {
        let listener = Listener::new(ListenerConfig {
            name: "policyd",
            max_sessions: config.max_sessions,
            session_wait: Duration::from_secs(2),
            allowed_clients: config.allowed_clients.clone(),
            drain_timeout: config.drain_timeout,
        });
        let throttle = Throttle::new(config.throttle, policy, Instant::now());
        Policyd {
            shared: Arc::new(Shared {
                idle_timeout: config.idle_timeout,
                throttle: Mutex::new(throttle),
            }),
            listener,
        }
    }

    /// Serves policy requests until `shutdown`, then drains.
    pub async fn run(self, listener: TcpListener, shutdown: ShutdownSignal) {
        match listener.local_addr() {
            Ok(address) => tracing::info!(%address, "Accepting policy requests."),
            Err(err) => tracing::info!(error = %err, "Accepting policy requests."),
        }
        self.listener.serve(listener, shutdown, self.shared).await;
    }
}

impl Service<TcpStream> for Shared {
    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr, phase: PhaseWatch) {
        session(&self, stream, peer, phase).await;
    }

    /// The protocol has no words before a request: the connection is closed, and Postfix
    /// applies its `default_action`.
    async fn refuse(&self, mut stream: TcpStream, _why: Refusal) {
        let _ = stream.shutdown().await;
    }
}

/// Why a session ended.
enum End {
    Closed,
    Idle,
    Draining,
    Failed(String),
}

/// Answers requests on `stream` until the client closes, idles, errs, or shutdown begins.
async fn session<S>(shared: &Shared, mut stream: S, peer: SocketAddr, phase: PhaseWatch)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut reader = RequestReader::new();
    let end = loop {
        let request = match next_request(shared, &mut stream, &mut reader, &phase).await {
            Ok(request) => request,
            Err(end) => break end,
        };
        let action = decide(shared, &request);
        if let Err(err) = stream.write_all(answer(&action).as_bytes()).await {
            break End::Failed(err.to_string());
        }
    };
    match end {
        End::Failed(error) => {
            tracing::warn!(%peer, %error, "Policy session closed on an error.");
        }
        End::Idle => tracing::debug!(%peer, "Policy session idle: closed."),
        End::Closed | End::Draining => {}
    }
    let _ = stream.shutdown().await;
}

/// The next request, reading as needed within the idle timeout.
async fn next_request<S>(
    shared: &Shared,
    stream: &mut S,
    reader: &mut RequestReader,
    phase: &PhaseWatch,
) -> Result<Request, End>
where
    S: AsyncRead + Unpin,
{
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        match reader.next_request() {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(err) => return Err(End::Failed(err.to_string())),
        }
        let read = tokio::select! {
            read = tokio::time::timeout(shared.idle_timeout, stream.read(&mut chunk)) => read,
            () = phase.reached(Phase::Draining) => return Err(End::Draining),
        };
        match read {
            Err(_) => return Err(End::Idle),
            Ok(Err(err)) => return Err(End::Failed(err.to_string())),
            Ok(Ok(0)) => return Err(End::Closed),
            Ok(Ok(n)) => reader.push(&chunk[..n]),
        }
    }
}

/// The action for `request`, logged.
fn decide(shared: &Shared, request: &Request) -> String {
    let decision = shared
        .throttle
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .decide(request, Instant::now());
    log_decision(request, &decision);
    decision.action
}

fn log_decision(request: &Request, decision: &Decision) {
    tracing::info!(
        sender = decision.sender.as_deref().unwrap_or(""),
        class = decision.class.as_deref().unwrap_or(""),
        state = request.get("protocol_state").unwrap_or(""),
        action = %decision.action,
        limit = decision.limit.as_deref().unwrap_or(""),
        count = decision.count,
        "Policy decision."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::{Class, Classes, Counted, Limit, LimitAction, Span};
    use tokio::io::duplex;

    fn shared(max: u64, idle: Duration) -> Shared {
        let class = Class {
            name: "person".into(),
            senders: Vec::new(),
            limits: vec![Limit {
                counted: Counted::Messages,
                span: Span::Hour,
                max,
            }],
            action: LimitAction::Defer,
        };
        let config = ThrottleConfig {
            classes: Classes::new(vec![class]),
            max_senders: 10,
        };
        let throttle = Throttle::new(config, Arc::new(Policy::default()), Instant::now());
        Shared {
            idle_timeout: idle,
            throttle: Mutex::new(throttle),
        }
    }

    const EOM: &[u8] =
        b"request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nsasl_username=u\nrecipient_count=1\n\n";

    #[tokio::test(start_paused = true)]
    async fn several_requests_on_one_connection_then_the_limit() {
        let shared = shared(2, Duration::from_secs(60));
        let (mut client, server) = duplex(64 * 1024);
        let watch = PhaseWatch::fixed(Phase::Running);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let task = async move { session(&shared, server, peer, watch).await };
        let drive = async move {
            let mut input = Vec::new();
            for _ in 0..3 {
                input.extend_from_slice(EOM);
            }
            client.write_all(&input).await.unwrap();
            client.shutdown().await.unwrap();
            let mut out = String::new();
            client.read_to_string(&mut out).await.unwrap();
            out
        };
        let ((), out) = tokio::join!(task, drive);
        assert_eq!(
            out,
            "action=DUNNO\n\naction=DUNNO\n\naction=DEFER_IF_PERMIT 4.7.1 Sending rate limit reached: at most 2 messages per hour\n\n"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_request_closes_the_connection_unanswered() {
        let shared = shared(2, Duration::from_secs(60));
        let (mut client, server) = duplex(64 * 1024);
        let watch = PhaseWatch::fixed(Phase::Running);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let task = async move { session(&shared, server, peer, watch).await };
        let drive = async move {
            client.write_all(b"no equals sign\n\n").await.unwrap();
            let mut out = String::new();
            client.read_to_string(&mut out).await.unwrap();
            out
        };
        let ((), out) = tokio::join!(task, drive);
        assert_eq!(out, "");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_session_is_closed_after_the_timeout() {
        let shared = shared(2, Duration::from_secs(30));
        let (mut client, server) = duplex(1024);
        let watch = PhaseWatch::fixed(Phase::Running);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let started = Instant::now();
        let task = async move { session(&shared, server, peer, watch).await };
        let drive = async move {
            let mut out = Vec::new();
            client.read_to_end(&mut out).await.unwrap();
            out
        };
        let ((), out) = tokio::join!(task, drive);
        assert!(out.is_empty());
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
