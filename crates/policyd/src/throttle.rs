//! Throttling: who the sender is, what it sent in the sliding windows, and the decision.
//!
//! Messages are counted at END-OF-MESSAGE (a recipient refused later is not counted); the
//! recipient domains come from the RCPT requests of the same `instance`. A sender already
//! at a limit gets its class's action at RCPT too, so Postfix refuses early.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use quarantd_policy::Policy;
use tokio::time::Instant;

use crate::classes::{Class, Classes, Counted, Limit, Span};
use crate::protocol::Request;
use crate::window::Window;

/// Senders not seen for this long are forgotten.
pub const SENDER_IDLE: Duration = Duration::from_secs(86_400);
/// Most RCPT instances waiting for their END-OF-MESSAGE.
pub const MAX_INSTANCES: usize = 10_000;
/// Most recipient domains kept per instance.
pub const MAX_DOMAINS_PER_INSTANCE: usize = 1000;
/// How often idle senders are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Instances without END-OF-MESSAGE for this long are forgotten.
pub const INSTANCE_IDLE: Duration = Duration::from_secs(3600);

/// The settings of throttling.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// The classes (the default one included).
    pub classes: Classes,
    /// Most senders tracked at once; past it the one idle longest is forgotten.
    pub max_senders: usize,
}

/// The answer to one request and what it was based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The `action=` value.
    pub action: String,
    /// The sender counted, if throttled.
    pub sender: Option<String>,
    /// Its class.
    pub class: Option<String>,
    /// The limit reached, if any (`messages_per_hour`).
    pub limit: Option<String>,
    /// The count against it (including this request when it was counted or refused).
    pub count: u64,
}

impl Decision {
    fn dunno() -> Self {
        Decision {
            action: "DUNNO".into(),
            sender: None,
            class: None,
            limit: None,
            count: 0,
        }
    }
}

/// What one sender sent.
#[derive(Debug)]
struct SenderState {
    last_seen: Instant,
    windows: Vec<(Counted, Span, Window)>,
    /// Recipient domain → when last counted.
    domains: HashMap<String, Instant>,
}

impl SenderState {
    fn new(now: Instant) -> Self {
        let mut windows = Vec::new();
        for counted in [Counted::Messages, Counted::Recipients] {
            for span in Span::ALL {
                windows.push((counted, span, Window::new(span.length(), span.bucket())));
            }
        }
        SenderState {
            last_seen: now,
            windows,
            domains: HashMap::new(),
        }
    }

    fn window(&mut self, counted: Counted, span: Span) -> &mut Window {
        let i = self
            .windows
            .iter()
            .position(|(c, s, _)| *c == counted && *s == span)
            .unwrap_or(0);
        &mut self.windows[i].2
    }

    fn distinct_domains(&self, span: Span, now: Instant) -> u64 {
        let since = now.checked_sub(span.length());
        self.domains
            .values()
            .filter(|seen| since.is_none_or(|s| **seen > s))
            .count() as u64
    }

    fn count(&mut self, origin: Instant, now: Instant, limit: &Limit) -> u64 {
        match limit.counted {
            Counted::Domains => self.distinct_domains(limit.span, now),
            counted => self.window(counted, limit.span).count(origin, now),
        }
    }

    /// The domains of `message` that would be new in `span`.
    fn new_domains(&self, domains: &HashSet<String>, span: Span, now: Instant) -> u64 {
        let since = now.checked_sub(span.length());
        domains
            .iter()
            .filter(|d| {
                self.domains
                    .get(*d)
                    .is_none_or(|seen| since.is_some_and(|s| *seen <= s))
            })
            .count() as u64
    }
}

/// What END-OF-MESSAGE adds.
struct Message {
    recipients: u64,
    domains: HashSet<String>,
}

/// The throttling state of every sender, and the decision for each request.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    policy: Arc<Policy>,
    origin: Instant,
    last_sweep: Instant,
    senders: HashMap<String, SenderState>,
    /// RCPT domains by `instance`, with when the instance was last seen.
    instances: HashMap<String, (Instant, HashSet<String>)>,
}

impl Throttle {
    /// Throttling with `config`; local domains and networks come from `policy`.
    pub fn new(config: ThrottleConfig, policy: Arc<Policy>, now: Instant) -> Self {
        Throttle {
            config,
            policy,
            origin: now,
            last_sweep: now,
            senders: HashMap::new(),
            instances: HashMap::new(),
        }
    }

    /// Number of senders tracked.
    pub fn tracked_senders(&self) -> usize {
        self.senders.len()
    }

    /// The decision for `request` at `now`, counted when it is an accepted END-OF-MESSAGE.
    pub fn decide(&mut self, request: &Request, now: Instant) -> Decision {
        self.sweep(now);
        let Some(sender) = self.sender_of(request) else {
            return Decision::dunno();
        };
        let class = self.config.classes.class_of(names(request)).clone();
        let mut decision = match request.get("protocol_state") {
            Some("RCPT") => self.at_rcpt(request, &sender, &class, now),
            Some("END-OF-MESSAGE") => self.at_end(request, &sender, &class, now),
            _ => self.over(&sender, &class, now, None),
        };
        decision.sender = Some(sender);
        decision.class = Some(class.name);
        decision
    }

    /// Who is throttled: the SASL login, else a local envelope sender from a local network.
    fn sender_of(&self, request: &Request) -> Option<String> {
        if let Some(login) = request.non_empty("sasl_username") {
            return Some(login.to_ascii_lowercase());
        }
        let sender = request.non_empty("sender")?.to_ascii_lowercase();
        let client = request.get("client_address")?.parse().ok()?;
        let local_network = quarantd_runtime::in_networks(self.policy.local_networks(), client);
        (local_network && self.policy.is_local_address(&sender)).then_some(sender)
    }

    /// RCPT: notes the recipient's domain for the instance; refuses a sender at a limit.
    fn at_rcpt(
        &mut self,
        request: &Request,
        sender: &str,
        class: &Class,
        now: Instant,
    ) -> Decision {
        if let (Some(instance), Some(domain)) = (
            request.non_empty("instance"),
            request.non_empty("recipient").and_then(domain_of),
        ) {
            self.note_domain(instance, domain, now);
        }
        self.over(sender, class, now, None)
    }

    fn note_domain(&mut self, instance: &str, domain: String, now: Instant) {
        if !self.instances.contains_key(instance) && self.instances.len() >= MAX_INSTANCES {
            self.instances
                .retain(|_, (seen, _)| now.saturating_duration_since(*seen) < INSTANCE_IDLE);
            if self.instances.len() >= MAX_INSTANCES {
                return;
            }
        }
        let (seen, domains) = self
            .instances
            .entry(instance.to_string())
            .or_insert_with(|| (now, HashSet::new()));
        *seen = now;
        if domains.len() < MAX_DOMAINS_PER_INSTANCE {
            domains.insert(domain);
        }
    }

    /// END-OF-MESSAGE: refuses a message that would pass a limit, else counts it.
    fn at_end(&mut self, request: &Request, sender: &str, class: &Class, now: Instant) -> Decision {
        let domains = request
            .non_empty("instance")
            .and_then(|i| self.instances.remove(i))
            .map(|(_, d)| d)
            .unwrap_or_default();
        let recipients = request
            .get("recipient_count")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(domains.len() as u64)
            .max(1);
        let message = Message {
            recipients,
            domains,
        };
        let decision = self.over(sender, class, now, Some(&message));
        if decision.limit.is_none() {
            self.count(sender, now, &message);
        }
        decision
    }

    /// The class's action when `sender` is at a limit (with `message`: would pass one).
    fn over(
        &mut self,
        sender: &str,
        class: &Class,
        now: Instant,
        message: Option<&Message>,
    ) -> Decision {
        let origin = self.origin;
        let Some(state) = self.senders.get_mut(sender) else {
            return message.map_or_else(Decision::dunno, |m| first_message(class, m));
        };
        for limit in &class.limits {
            let count = state.count(origin, now, limit);
            let adds = match (limit.counted, message) {
                (_, None) => 0,
                (Counted::Messages, Some(_)) => 1,
                (Counted::Recipients, Some(m)) => m.recipients,
                (Counted::Domains, Some(m)) => state.new_domains(&m.domains, limit.span, now),
            };
            let reached = if message.is_some() {
                count + adds > limit.max
            } else {
                count >= limit.max
            };
            if reached {
                return refused(class, limit, count + adds);
            }
        }
        Decision::dunno()
    }

    fn count(&mut self, sender: &str, now: Instant, message: &Message) {
        self.make_room(sender, now);
        let origin = self.origin;
        let state = self
            .senders
            .entry(sender.to_string())
            .or_insert_with(|| SenderState::new(now));
        state.last_seen = now;
        for (counted, _, window) in &mut state.windows {
            let n = match counted {
                Counted::Messages => 1,
                _ => message.recipients,
            };
            window.add(origin, now, n);
        }
        self.note_sender_domains(sender, now, &message.domains);
    }

    /// Keeps the recipient domains a domain limit needs, at most the largest limit + 1.
    fn note_sender_domains(&mut self, sender: &str, now: Instant, domains: &HashSet<String>) {
        let Some(span) = self.config.classes.longest_domain_span() else {
            return;
        };
        let keep = self.config.classes.most_domains() as usize + 1;
        let Some(state) = self.senders.get_mut(sender) else {
            return;
        };
        state
            .domains
            .retain(|_, seen| now.saturating_duration_since(*seen) < span);
        for domain in domains {
            state.domains.insert(domain.clone(), now);
        }
        while state.domains.len() > keep {
            let oldest = state
                .domains
                .iter()
                .min_by_key(|(_, seen)| **seen)
                .map(|(d, _)| d.clone());
            if let Some(oldest) = oldest {
                state.domains.remove(&oldest);
            }
        }
    }

    /// Every [`SWEEP_EVERY`]: forgets senders idle for [`SENDER_IDLE`] and instances idle
    /// for [`INSTANCE_IDLE`].
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_EVERY {
            return;
        }
        self.last_sweep = now;
        self.senders
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < SENDER_IDLE);
        self.instances
            .retain(|_, (seen, _)| now.saturating_duration_since(*seen) < INSTANCE_IDLE);
    }

    /// Forgets senders idle for [`SENDER_IDLE`]; at `max_senders`, the one idle longest.
    fn make_room(&mut self, sender: &str, now: Instant) {
        if self.senders.contains_key(sender) || self.senders.len() < self.config.max_senders {
            return;
        }
        self.senders
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < SENDER_IDLE);
        if self.senders.len() >= self.config.max_senders {
            let idle = self
                .senders
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(idle) = idle {
                self.senders.remove(&idle);
            }
        }
    }
}

/// The names a sender is known by, for its class.
fn names(request: &Request) -> Vec<&str> {
    ["sender", "sasl_username"]
        .iter()
        .filter_map(|n| request.non_empty(n))
        .collect()
}

fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// The decision for a sender's first message: over only when the message alone passes a limit.
fn first_message(class: &Class, message: &Message) -> Decision {
    for limit in &class.limits {
        let adds = match limit.counted {
            Counted::Messages => 1,
            Counted::Recipients => message.recipients,
            Counted::Domains => message.domains.len() as u64,
        };
        if adds > limit.max {
            return refused(class, limit, adds);
        }
    }
    Decision::dunno()
}

fn refused(class: &Class, limit: &Limit, count: u64) -> Decision {
    let text = format!(
        "Sending rate limit reached: at most {} {} per {}",
        limit.max,
        limit.counted.as_str(),
        limit.span.as_str()
    );
    Decision {
        action: class.action.answer(&text),
        sender: None,
        class: None,
        limit: Some(limit.name()),
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::LimitAction;

    fn limit(counted: Counted, span: Span, max: u64) -> Limit {
        Limit { counted, span, max }
    }

    fn throttle(classes: Vec<Class>) -> Throttle {
        let policy = quarantd_policy::RawPolicy {
            local_domains: vec!["example.org".into()],
            ..Default::default()
        }
        .validate()
        .unwrap();
        let config = ThrottleConfig {
            classes: Classes::new(classes),
            max_senders: 100,
        };
        Throttle::new(config, Arc::new(policy), Instant::now())
    }

    fn person(limits: Vec<Limit>, action: LimitAction) -> Class {
        Class {
            name: "person".into(),
            senders: Vec::new(),
            limits,
            action,
        }
    }

    fn end(login: &str, recipients: u64) -> Request {
        let n = recipients.to_string();
        Request::from_pairs([
            ("protocol_state", "END-OF-MESSAGE"),
            ("sasl_username", login),
            ("sender", login),
            ("recipient_count", n.as_str()),
            ("client_address", "192.0.2.1"),
        ])
    }

    fn rcpt(login: &str, instance: &str, recipient: &str) -> Request {
        Request::from_pairs([
            ("protocol_state", "RCPT"),
            ("sasl_username", login),
            ("sender", login),
            ("recipient", recipient),
            ("instance", instance),
            ("client_address", "192.0.2.1"),
        ])
    }

    fn send(t: &mut Throttle, request: &Request) -> String {
        t.decide(request, Instant::now()).action
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_and_the_sender_may_send_again() {
        let mut t = throttle(vec![person(
            vec![limit(Counted::Messages, Span::Hour, 3)],
            LimitAction::Defer,
        )]);
        for _ in 0..3 {
            assert_eq!(send(&mut t, &end("u@example.org", 1)), "DUNNO");
            tokio::time::advance(Duration::from_secs(600)).await;
        }
        let refused = t.decide(&end("u@example.org", 1), Instant::now());
        assert_eq!(
            refused.action,
            "DEFER_IF_PERMIT 4.7.1 Sending rate limit reached: at most 3 messages per hour"
        );
        assert_eq!(refused.limit.as_deref(), Some("messages_per_hour"));
        assert_eq!(refused.count, 4);
        assert_eq!(refused.class.as_deref(), Some("person"));
        // The first message (t = 0) leaves the hour at t = 60 min (buckets of a minute).
        tokio::time::advance(Duration::from_secs(1799)).await;
        assert!(send(&mut t, &end("u@example.org", 1)).starts_with("DEFER_IF_PERMIT"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(send(&mut t, &end("u@example.org", 1)), "DUNNO");
        assert!(send(&mut t, &end("u@example.org", 1)).starts_with("DEFER_IF_PERMIT"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_class_action_applies_and_newsletter_limits_differ() {
        let newsletter = Class {
            name: "newsletter".into(),
            senders: vec!["*@lists.example.org".into()],
            limits: vec![limit(Counted::Recipients, Span::Minute, 100)],
            action: LimitAction::Hold,
        };
        let mut t = throttle(vec![
            person(
                vec![limit(Counted::Recipients, Span::Minute, 10)],
                LimitAction::Reject,
            ),
            newsletter,
        ]);
        assert_eq!(send(&mut t, &end("u@example.org", 10)), "DUNNO");
        assert!(send(&mut t, &end("u@example.org", 1)).starts_with("REJECT 5.7.1 "));
        assert_eq!(send(&mut t, &end("news@lists.example.org", 60)), "DUNNO");
        assert_eq!(send(&mut t, &end("news@lists.example.org", 40)), "DUNNO");
        let held = t.decide(&end("news@lists.example.org", 1), Instant::now());
        assert_eq!(
            held.action,
            "HOLD Sending rate limit reached: at most 100 recipients per minute"
        );
        assert_eq!(held.class.as_deref(), Some("newsletter"));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(send(&mut t, &end("news@lists.example.org", 100)), "DUNNO");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_over_a_limit_is_refused_at_rcpt_and_refusals_are_not_counted() {
        let mut t = throttle(vec![person(
            vec![limit(Counted::Messages, Span::Minute, 2)],
            LimitAction::Defer,
        )]);
        let login = "u@example.org";
        assert_eq!(send(&mut t, &rcpt(login, "i1", "a@other.test")), "DUNNO");
        assert_eq!(send(&mut t, &end(login, 1)), "DUNNO");
        assert_eq!(send(&mut t, &rcpt(login, "i2", "a@other.test")), "DUNNO");
        assert_eq!(send(&mut t, &end(login, 1)), "DUNNO");
        assert!(send(&mut t, &rcpt(login, "i3", "a@other.test")).starts_with("DEFER_IF_PERMIT"));
        assert!(send(&mut t, &end(login, 1)).starts_with("DEFER_IF_PERMIT"));
        tokio::time::advance(Duration::from_secs(65)).await;
        assert_eq!(send(&mut t, &rcpt(login, "i4", "a@other.test")), "DUNNO");
    }

    #[tokio::test(start_paused = true)]
    async fn distinct_recipient_domains_come_from_the_rcpt_requests_of_the_instance() {
        let mut t = throttle(vec![person(
            vec![limit(Counted::Domains, Span::Hour, 3)],
            LimitAction::Defer,
        )]);
        let login = "u@example.org";
        for rcpt_to in ["a@one.test", "b@ONE.test", "c@two.test"] {
            assert_eq!(send(&mut t, &rcpt(login, "i1", rcpt_to)), "DUNNO");
        }
        assert_eq!(send(&mut t, &end_of(login, "i1", 3)), "DUNNO");
        assert_eq!(send(&mut t, &rcpt(login, "i2", "d@one.test")), "DUNNO");
        assert_eq!(
            send(&mut t, &end_of(login, "i2", 1)),
            "DUNNO",
            "one.test again"
        );
        send(&mut t, &rcpt(login, "i3", "e@three.test"));
        send(&mut t, &rcpt(login, "i3", "f@four.test"));
        let refused = t.decide(&end_of(login, "i3", 2), Instant::now());
        assert_eq!(refused.limit.as_deref(), Some("domains_per_hour"));
        assert_eq!(refused.count, 4);
    }

    fn end_of(login: &str, instance: &str, recipients: u64) -> Request {
        let n = recipients.to_string();
        Request::from_pairs([
            ("protocol_state", "END-OF-MESSAGE"),
            ("sasl_username", login),
            ("instance", instance),
            ("recipient_count", n.as_str()),
        ])
    }

    #[tokio::test(start_paused = true)]
    async fn only_authenticated_or_local_senders_from_local_networks_are_throttled() {
        let mut t = throttle(vec![person(
            vec![limit(Counted::Messages, Span::Day, 0)],
            LimitAction::Reject,
        )]);
        let unauthenticated = |sender: &str, client: &str| {
            Request::from_pairs([
                ("protocol_state", "END-OF-MESSAGE"),
                ("sender", sender),
                ("client_address", client),
                ("recipient_count", "1"),
            ])
        };
        let cases = [
            ("u@example.org", "127.0.0.1", true),
            ("u@EXAMPLE.org", "127.0.0.1", true),
            ("u@example.org", "192.0.2.1", false),
            ("u@elsewhere.test", "127.0.0.1", false),
            ("", "127.0.0.1", false),
        ];
        for (sender, client, throttled) in cases {
            let action = send(&mut t, &unauthenticated(sender, client));
            assert_eq!(action.starts_with("REJECT"), throttled, "{sender} {client}");
        }
        assert!(
            send(&mut t, &end("someone", 1)).starts_with("REJECT"),
            "SASL"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tracked_senders_are_capped_and_idle_ones_forgotten() {
        let mut t = throttle(vec![person(
            vec![limit(Counted::Messages, Span::Hour, 1)],
            LimitAction::Defer,
        )]);
        for i in 0..150 {
            send(&mut t, &end(&format!("u{i}@example.org"), 1));
        }
        assert_eq!(t.tracked_senders(), 100);
        tokio::time::advance(SENDER_IDLE).await;
        send(&mut t, &end("new@example.org", 1));
        assert_eq!(t.tracked_senders(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn senders_idle_for_a_day_are_forgotten_below_the_cap_too() {
        let mut t = throttle(vec![person(
            vec![limit(Counted::Messages, Span::Day, 1)],
            LimitAction::Defer,
        )]);
        send(&mut t, &end("old@example.org", 1));
        send(
            &mut t,
            &rcpt("old@example.org", "never-ended", "a@other.test"),
        );
        tokio::time::advance(SENDER_IDLE / 2).await;
        send(&mut t, &end("recent@example.org", 1));
        assert_eq!(t.tracked_senders(), 2);
        tokio::time::advance(SENDER_IDLE / 2).await;
        let unthrottled = Request::from_pairs([("protocol_state", "RCPT")]);
        assert_eq!(send(&mut t, &unthrottled), "DUNNO");
        assert_eq!(t.tracked_senders(), 1, "old is forgotten, recent kept");
        assert!(
            t.instances.is_empty(),
            "the instance without END-OF-MESSAGE too"
        );
    }
}
