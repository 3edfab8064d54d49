//! One host's processes sharing a cache directory: a private scratch
//! directory, a holder of its lock files, the test binary re-invoked as a
//! child process, and the child's loop against the protected endpoint.

use std::fs::{self, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

use crate::stand_in::{DEFAULT_API_KEY, ECHO_PATH};

/// A private (0700) directory under the system's temporary directory,
/// removed with everything in it on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new, empty one; `label` shows in its name, with the process id and
    /// a counter, so that tests running at once never share one.
    pub fn new(label: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "tinker-auth-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::DirBuilder::new().mode(0o700).create(&path).unwrap();
        Scratch(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Takes every lock file of the cache directory `dir` through new open file
/// descriptions, as another process (stuck or stopped) would hold them.
/// Panics if there is none yet: the first exchange creates them.
pub fn hold_locks(dir: &Path) -> Vec<File> {
    let held: Vec<File> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .map(|p| {
            let f = File::open(p).unwrap();
            f.lock().unwrap();
            f
        })
        .collect();
    assert!(!held.is_empty(), "the first exchange created a lock file");
    held
}

/// The text of every cache entry (`*.json`) in `dir`.
pub fn entries_text(dir: &Path) -> String {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

/// What a child process of a multi-process test is told to be: a role, the
/// stand-in's base URL, the cache directory and how long to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildSpec {
    /// What the child does (the test's own names).
    pub role: String,
    /// The stand-in's base URL (`-` for none).
    pub url: String,
    /// The shared cache directory.
    pub dir: PathBuf,
    /// How long it runs, for the roles that run.
    pub seconds: Duration,
}

impl ChildSpec {
    /// A spec from its parts.
    pub fn new(role: &str, url: &str, dir: &Path, seconds: Duration) -> ChildSpec {
        ChildSpec {
            role: role.into(),
            url: url.into(),
            dir: dir.into(),
            seconds,
        }
    }

    /// The spec in the environment variable `env`: `None` in the parent
    /// process (the variable unset).
    pub fn from_env(env: &str) -> Option<ChildSpec> {
        let text = std::env::var(env).ok()?;
        let mut parts = text.splitn(4, ' ');
        let mut next = || parts.next().unwrap_or_else(|| panic!("{env}: {text:?}"));
        let (role, url, seconds) = (next(), next(), next());
        Some(ChildSpec {
            role: role.into(),
            url: url.into(),
            seconds: Duration::from_secs(seconds.parse().unwrap()),
            dir: next().into(),
        })
    }

    /// The running test binary again, running only its test named `child`,
    /// with this spec in the environment variable `env` and the stand-in's
    /// API key in `TINKER_API_KEY`; stdout piped, stderr inherited.
    pub fn command(&self, env: &str) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(
                env,
                format!(
                    "{} {} {} {}",
                    self.role,
                    self.url,
                    self.seconds.as_secs(),
                    self.dir.display()
                ),
            )
            .env("TINKER_API_KEY", DEFAULT_API_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        command
    }
}

/// Calls the stand-in's protected endpoint at `url` with `provider`'s token
/// every 20 ms for `seconds`; returns how many calls were not answered 200.
/// Panics on a provider error, so that the parent sees no report.
pub fn call_protected(provider: &JwtAuthProvider, url: &str, seconds: Duration) -> u64 {
    let agent = ureq::Agent::new_with_defaults();
    let end = Instant::now() + seconds;
    let mut rejected = 0;
    while Instant::now() < end {
        let jwt = provider.get_token().unwrap().unwrap();
        let status = agent
            .get(format!("{url}{ECHO_PATH}"))
            .header("X-API-Key", jwt.as_str())
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status != 200 {
            rejected += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    rejected
}
