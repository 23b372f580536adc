//! Opening the database (SQLite or MariaDB through sqlx's `any` driver), migrations, and the
//! small helpers every query uses.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Row};

use crate::error::Error;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// MariaDB or MySQL.
    MySql,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// Time allowed to get a connection (connect included) before the store reports itself
    /// unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits for another writer's lock.
    pub sqlite_busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(30),
        }
    }
}

/// File name of the SQLite quarantine under the data directory.
pub const SQLITE_FILE: &str = "quarantine.sqlite";

/// The URL of the embedded SQLite quarantine under `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join(SQLITE_FILE).display())
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Backend, Error> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Ok(Backend::MySql)
        } else {
            Err(Error::UnsupportedUrl { url: redact(url) })
        }
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Creates a missing SQLite database file with mode 0600 before SQLite does (SQLite would
/// make it 0644 less the umask): it holds other people's mail, and SQLite gives the `-wal`
/// and `-shm` files the database file's mode. A missing directory is left to SQLite's error.
fn create_private_sqlite(url: &str) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::db("connect", sqlx::Error::Io(e))),
    }
}

/// Connects and brings the schema up to date.
pub(crate) async fn connect(url: &str, opts: &StoreOptions) -> Result<(AnyPool, Backend), Error> {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
    let backend = Backend::from_url(url)?;
    let url = match backend {
        Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
        Backend::MySql => url.replacen("mariadb:", "mysql:", 1),
        Backend::Sqlite => url.to_string(),
    };
    if backend == Backend::Sqlite && url.contains("mode=rwc") {
        create_private_sqlite(&url)?;
    }
    // One direct attempt first: a database that refuses (down, wrong password, no such
    // database) is reported at once with its own error, instead of after the pool's acquire
    // timeout as "pool timed out".
    match tokio::time::timeout(opts.acquire_timeout, AnyConnection::connect(&url)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(e)) => return Err(Error::db("connect", e)),
        Err(_) => return Err(Error::db("connect", sqlx::Error::PoolTimedOut)),
    }
    let busy_ms = opts.sqlite_busy_timeout.as_millis();
    let pool = AnyPoolOptions::new()
        .max_connections(opts.max_connections)
        .acquire_timeout(opts.acquire_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                match backend {
                    // WAL: readers never block the writer. synchronous=FULL: a commit is on
                    // disk when it returns (WAL's default NORMAL may lose the last commits
                    // on power loss).
                    Backend::Sqlite => {
                        conn.execute(
                            format!(
                                "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                                 PRAGMA synchronous = FULL;"
                            )
                            .as_str(),
                        )
                        .await?;
                    }
                    Backend::MySql => {
                        conn.execute(
                            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
                        )
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|e| Error::db("connect", e))?;
    let migrator = Migrator::new(Embedded(backend)).await?;
    migrator.run(&pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(source) => Error::db("migrate", source),
        other => Error::Migrate(other),
    })?;
    Ok((pool, backend))
}

/// The schema migrations, embedded, one list per dialect.
#[derive(Debug)]
struct Embedded(Backend);

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "quarantine",
        include_str!("../migrations/sqlite/0001_quarantine.sql"),
    ),
    (
        2,
        "outbox",
        include_str!("../migrations/sqlite/0002_outbox.sql"),
    ),
    (
        3,
        "approvals",
        include_str!("../migrations/sqlite/0003_approvals.sql"),
    ),
    (
        4,
        "rejected copies",
        include_str!("../migrations/sqlite/0004_rejected_copies.sql"),
    ),
    (
        5,
        "workflow outbox",
        include_str!("../migrations/sqlite/0005_workflow_outbox.sql"),
    ),
];
const MYSQL_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "quarantine",
        include_str!("../migrations/mysql/0001_quarantine.sql"),
    ),
    (
        2,
        "outbox",
        include_str!("../migrations/mysql/0002_outbox.sql"),
    ),
    (
        3,
        "approvals",
        include_str!("../migrations/mysql/0003_approvals.sql"),
    ),
    (
        4,
        "rejected copies",
        include_str!("../migrations/mysql/0004_rejected_copies.sql"),
    ),
    (
        5,
        "workflow outbox",
        include_str!("../migrations/mysql/0005_workflow_outbox.sql"),
    ),
];

type BoxFuture<'s, T> = Pin<Box<dyn Future<Output = T> + Send + 's>>;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        let list = match self.0 {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::MySql => MYSQL_MIGRATIONS,
        };
        let migrations = list
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// A value to bind: the `any` driver's types.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    OptInt(Option<i64>),
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        Val::OptText(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        Val::OptInt(v)
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Blob(v)
    }
}

/// A query with its values bound.
pub(crate) fn bind_all<'q>(sql: &'q str, vals: Vec<Val>) -> Query<'q, Any, AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for v in vals {
        q = match v {
            Val::Int(i) => q.bind(i),
            Val::Text(t) => q.bind(t),
            Val::OptText(t) => q.bind(t),
            Val::OptInt(i) => q.bind(i),
            Val::Blob(b) => q.bind(b),
        };
    }
    q
}

/// `(?, ?, ?)` repeated `rows` times, comma-separated.
pub(crate) fn placeholders(columns: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    vec![one; rows].join(", ")
}

/// A text column, read as text from either backend.
pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, Error> {
    opt_text(row, col)?.ok_or_else(|| Error::BadValue {
        column: "text",
        value: format!("NULL in {col}"),
    })
}

/// A nullable text column.
pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, Error> {
    if let Ok(v) = row.try_get::<Option<String>, _>(col) {
        return Ok(v);
    }
    let bytes: Option<Vec<u8>> = row
        .try_get(col)
        .map_err(|e| Error::db("decode text column", e))?;
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// An integer column.
pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, Error> {
    row.try_get::<i64, _>(col)
        .map_err(|e| Error::db("decode integer column", e))
}

/// A nullable integer column.
pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, Error> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(|e| Error::db("decode integer column", e))
}

/// Cuts a string to at most `max` characters (columns have a width in MariaDB).
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::Store;

    #[tokio::test]
    async fn a_new_sqlite_quarantine_is_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_data_dir(dir.path(), &super::StoreOptions::default())
            .await
            .unwrap();
        for name in [
            "quarantine.sqlite",
            "quarantine.sqlite-wal",
            "quarantine.sqlite-shm",
        ] {
            let meta = std::fs::metadata(dir.path().join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
        store.close().await;
    }
}
