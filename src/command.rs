//! A credential printed by a shell command, run on every call.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::auth_provider::AuthTokenProvider;
use crate::error::Error;
use crate::token::Token;

/// Most of the command's stdout we read (a credential is far smaller).
const MAX_STDOUT: usize = 64 * 1024;

/// Runs `sh -c <command>` on every call; its trimmed stdout is the credential.
///
/// Suits credential helpers that mint or unlock a key (a vault, a cloud
/// secret manager, `pass`). The command's stdin is closed and its stdout is
/// the credential. Its stderr is passed through to this process's stderr, as
/// git does with credential helpers, and never captured: it is not quoted in
/// an [`Error`] or a log line, since a helper's diagnostics (a `set -x` trace,
/// say) may quote the very secret it prints. It runs in a
/// process group of its own, which is killed (`SIGKILL`) when the call returns,
/// whether the command timed out or exited: nothing it started outlives the
/// call. A helper that must stay (an agent) has to leave the group
/// (`setsid`), as daemons do.
///
/// ```
/// use tinker_auth::{AuthTokenProvider, CredentialCmdAuthProvider};
/// # #[cfg(unix)] {
/// let p = CredentialCmdAuthProvider::new("printf 'tml-from-cmd\\n'").unwrap();
/// assert_eq!(p.get_token().unwrap().unwrap().as_str(), "tml-from-cmd");
/// # }
/// ```
#[derive(Clone)]
pub struct CredentialCmdAuthProvider {
    command: Arc<str>,
    timeout: Duration,
}

impl CredentialCmdAuthProvider {
    /// A provider running `command` through `sh -c`.
    ///
    /// # Errors
    /// [`Error::EmptyCommand`] when `command` is empty or blank.
    pub fn new(command: impl Into<String>) -> Result<Self, Error> {
        let command = command.into();
        if command.trim().is_empty() {
            return Err(Error::EmptyCommand);
        }
        Ok(CredentialCmdAuthProvider {
            command: command.into(),
            timeout: Duration::from_secs(30),
        })
    }

    /// How long the command may run before it is killed. `Duration::MAX`
    /// means no limit; zero would kill it before it could answer, and a
    /// [`JwtAuthProvider`](crate::JwtAuthProvider) refuses it at `build()`.
    /// Defaults to 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn run(&self) -> Result<String, Error> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&*self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Passed through, never captured: see the type's docs.
            .stderr(Stdio::inherit());
        // Its own process group, so that everything it starts can be killed
        // with it (`sh` alone would leave its children holding our pipes).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| Error::CommandSpawn {
            source: Arc::new(e),
        })?;
        // Drain stdout on its own thread so a chatty command cannot block on
        // a full pipe while we wait for it to exit.
        let stdout = drain(child.stdout.take(), MAX_STDOUT);
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    kill_all(&mut child);
                    let _ = child.wait();
                    return Err(Error::CommandTimedOut {
                        after: self.timeout,
                    });
                }
                Ok(None) => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => {
                    kill_all(&mut child);
                    let _ = child.wait();
                    return Err(Error::CommandSpawn {
                        source: Arc::new(e),
                    });
                }
            }
        };
        // What the command left running in its group (a background job)
        // would outlive the call and hold our pipes open: it goes too.
        kill_all(&mut child);
        if !status.success() {
            return Err(Error::CommandFailed {
                code: status.code(),
            });
        }
        // Only a process that left the group (`setsid`) can still hold the
        // pipe now; do not wait on it long.
        let out = stdout
            .recv_timeout(Duration::from_millis(500))
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        if out.is_empty() {
            return Err(Error::CommandEmptyOutput);
        }
        Ok(out)
    }
}

/// Kills the command's whole process group with `SIGKILL` (the group's id is
/// `sh`'s pid, as it was started with `process_group(0)`). Errors are
/// ignored: an empty group (`ESRCH`) is the usual case after a clean exit.
///
/// `rustix` makes the `kill(-pgid, SIGKILL)` call without `unsafe` on our
/// side, and without starting yet another process (`kill(1)`) at the moment
/// processes may be what is running out.
#[cfg(unix)]
fn kill_all(child: &mut Child) {
    let group = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
}

#[cfg(not(unix))]
fn kill_all(child: &mut Child) {
    let _ = child.kill();
}

/// Reads a pipe to its end on a helper thread, keeping the first `keep` bytes.
fn drain<R: Read + Send + 'static>(pipe: Option<R>, keep: usize) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = keep.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            let _ = tx.send(kept);
        });
    } else {
        let _ = tx.send(Vec::new());
    }
    rx
}

/// The command is not shown: it may hold a secret (`printf tml-...`).
impl std::fmt::Debug for CredentialCmdAuthProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCmdAuthProvider")
            .field("command", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl AuthTokenProvider for CredentialCmdAuthProvider {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        self.run().map(|c| Some(Token::new(c)))
    }

    /// The command's timeout: past it, the command is killed.
    fn time_limit(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn token(cmd: &str) -> Result<String, String> {
        CredentialCmdAuthProvider::new(cmd)
            .and_then(|p| p.timeout(Duration::from_secs(5)).get_token())
            .map(|t| t.unwrap().as_str().to_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn trimmed_stdout_is_the_credential() {
        assert_eq!(token("echo '  tml-abc  '"), Ok("tml-abc".into()));
    }

    #[test]
    fn runs_on_every_call() {
        let dir = std::env::temp_dir().join(format!("tinker-auth-cmd-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let cmd = format!(
            "echo x >> '{0}'; echo tml-$(wc -l < '{0}' | tr -d ' ')",
            dir.display()
        );
        let p = CredentialCmdAuthProvider::new(cmd).unwrap();
        assert_eq!(p.get_token().unwrap().unwrap().as_str(), "tml-1");
        assert_eq!(p.get_token().unwrap().unwrap().as_str(), "tml-2");
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn each_failure_says_which() {
        assert_eq!(
            token("  "),
            Err("credential command: the command is empty".into())
        );
        let e = token("echo 'vault sealed' >&2; exit 3").unwrap_err();
        assert_eq!(e, "credential command: exited with status 3");
        assert_eq!(
            token("true"),
            Err("credential command: succeeded but printed no credential".into())
        );
    }

    #[test]
    fn a_hung_command_is_killed_at_its_timeout() {
        let p = CredentialCmdAuthProvider::new("sleep 10")
            .unwrap()
            .timeout(Duration::from_millis(200));
        let started = Instant::now();
        let e = p.get_token().unwrap_err();
        assert!(matches!(e, Error::CommandTimedOut { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn large_output_does_not_deadlock() {
        let out = token("head -c 1000000 /dev/zero | tr '\\0' 'k'; echo").unwrap();
        assert_eq!(out.len(), MAX_STDOUT);
    }
}
