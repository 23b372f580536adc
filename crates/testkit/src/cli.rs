//! Running a command-line program to its end from a test: [`Cli`] says which program, with
//! which environment, trailing arguments and standard input; [`CliOutput`] is what it did.
//!
//! The program's path comes from the test crate (`env!("CARGO_BIN_EXE_quarantd")` exists only
//! in the crate that builds the binary), so the runner takes it as an argument.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::io::AsyncWriteExt;

/// A program to run, with what every run of it gets: environment changes, arguments after
/// the run's own, standard input (none unless given). Cheap to clone, so a test can derive
/// a runner with one more setting from a shared one.
#[derive(Debug, Clone)]
pub struct Cli {
    program: PathBuf,
    trailing: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
}

impl Cli {
    /// Runs `program` (e.g. `env!("CARGO_BIN_EXE_quarantd")`) with the test's environment.
    pub fn new(program: impl Into<PathBuf>) -> Cli {
        Cli {
            program: program.into(),
            trailing: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Appends `args` after the arguments of every run (e.g. `--store URL --config FILE`).
    pub fn trailing<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Cli {
        self.trailing
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets the environment variable `name` to `value` for every run.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cli {
        self.env
            .push((name.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes the environment variable `name` for every run.
    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> Cli {
        self.env.push((name.as_ref().to_owned(), None));
        self
    }

    /// Gives `input` as standard input (closed after it); without it, standard input is empty.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Cli {
        self.stdin = Some(input.into());
        self
    }

    /// The command for `args` with this runner's settings (standard input not set), for a
    /// test that drives the process itself (a daemon, a process read line by line).
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(args).args(&self.trailing);
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Runs the program with `args` to its end, blocking this thread. From an async test
    /// whose runtime also runs a server the program talks to, use [`Cli::run_async`].
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> CliOutput {
        let mut command = self.command(args);
        let mut child = command
            .stdin(self.stdin_mode())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        let pipe = child.stdin.take();
        let output = std::thread::scope(|scope| {
            if let (Some(mut pipe), Some(input)) = (pipe, &self.stdin) {
                // Written beside the reading, so a program that answers before it has read
                // all of its input cannot block on a full pipe.
                scope.spawn(move || pipe.write_all(input).ok());
            }
            child.wait_with_output()
        });
        self.output(args, output)
    }

    /// [`Cli::run`] without blocking the runtime's thread.
    pub async fn run_async<S: AsRef<OsStr>>(&self, args: &[S]) -> CliOutput {
        let mut command = tokio::process::Command::from(self.command(args));
        let mut child = command
            .stdin(self.stdin_mode())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        let pipe = child.stdin.take();
        let write = async {
            if let (Some(mut pipe), Some(input)) = (pipe, &self.stdin) {
                pipe.write_all(input).await.ok();
            }
        };
        let ((), output) = tokio::join!(write, child.wait_with_output());
        self.output(args, output)
    }

    fn stdin_mode(&self) -> Stdio {
        match self.stdin {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        }
    }

    fn output<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        output: std::io::Result<std::process::Output>,
    ) -> CliOutput {
        let what = self.describe(args);
        let output = output.unwrap_or_else(|e| panic!("{what}: {e}"));
        CliOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            raw_stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            what,
        }
    }

    /// `NAME ARGS...` for messages.
    fn describe<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let name = self
            .program
            .file_name()
            .map(Path::new)
            .unwrap_or(&self.program);
        let mut what = name.display().to_string();
        for arg in args
            .iter()
            .map(AsRef::as_ref)
            .chain(self.trailing.iter().map(OsString::as_os_str))
        {
            what.push(' ');
            what.push_str(&arg.to_string_lossy());
        }
        what
    }
}

/// What one run of a [`Cli`] did.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The exit code; -1 when a signal ended the program.
    pub code: i32,
    /// Standard output as text (invalid UTF-8 replaced).
    pub stdout: String,
    /// Standard output byte for byte (`quarantine show --raw`, `--part`).
    pub raw_stdout: Vec<u8>,
    /// Standard error as text.
    pub stderr: String,
    /// The command line, for messages.
    pub what: String,
}

impl CliOutput {
    /// Asserts exit code 0 (the message shows both streams) and returns the output.
    #[track_caller]
    pub fn ok(self) -> CliOutput {
        assert_eq!(
            self.code, 0,
            "{} failed: stdout {} stderr {}",
            self.what, self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code `code` and that standard error mentions `needle`; returns the output.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> CliOutput {
        assert_eq!(
            self.code, code,
            "{}: stdout {} stderr {}",
            self.what, self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "{}: stderr {:?} lacks {needle:?}",
            self.what,
            self.stderr
        );
        self
    }

    /// Standard output parsed as one JSON document; panics with the output if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.raw_stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.what, self.stdout))
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;

    fn sh(script: &str) -> (Cli, [String; 2]) {
        (Cli::new("/bin/sh"), ["-c".into(), script.into()])
    }

    #[test]
    fn code_streams_env_and_trailing_arguments() {
        let (cli, args) = sh("echo \"$A:${B-unset}:$0:$1\"; echo oops >&2; exit 3");
        let cli = cli
            .env("A", "set")
            .env_remove("B")
            .trailing(["zero", "one"]);
        let out = cli.env("B", "late").env_remove("B").run(&args);
        assert_eq!(out.code, 3);
        assert_eq!(out.stdout, "set:unset:zero:one\n");
        assert_eq!(out.raw_stdout, b"set:unset:zero:one\n");
        assert_eq!(out.stderr, "oops\n");
        assert!(out.what.starts_with("sh -c "), "{}", out.what);
        out.fails(3, "oops");
    }

    #[test]
    fn standard_input_is_given_or_empty() {
        let (cli, args) = sh("wc -c");
        assert_eq!(cli.run(&args).ok().stdout.trim(), "0");
        let big = vec![b'x'; 1 << 20];
        let out = cli.stdin(big).run(&args).ok();
        assert_eq!(out.stdout.trim(), (1 << 20).to_string());
    }

    #[tokio::test]
    async fn the_async_run_is_the_same() {
        let (cli, args) = sh("cat; printf '{\"a\": 1}'");
        let out = cli.stdin("in ").run_async(&args).await.ok();
        assert_eq!(out.stdout, "in {\"a\": 1}");
        let (cli, args) = sh("printf '{\"a\": 1}'");
        assert_eq!(cli.run_async(&args).await.ok().json()["a"], 1);
    }

    #[test]
    #[should_panic(expected = "stderr \"no\\n\" lacks \"yes\"")]
    fn a_failure_without_the_needle_panics() {
        let (cli, args) = sh("echo no >&2; exit 1");
        cli.run(&args).fails(1, "yes");
    }
}
