//! Log output: text (logfmt) or JSON lines on standard error.

mod logfmt;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use logfmt::Logfmt;
use quarantd_config::LogFormat;

/// Installs the global subscriber; a second call (as in tests) is ignored.
pub fn init(format: LogFormat, level: tracing::Level) {
    let filter = Targets::new().with_default(level);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(Logfmt)
                    .fmt_fields(Logfmt)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    let _ = result;
}
