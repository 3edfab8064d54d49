//! The `tinker-auth` binary against the loopback stand-in: the library's
//! shared JWT cache as the CLI uses it (reuse, `--min-runway`, `--no-cache`,
//! corruption, permissions, refused directories, one token shared with a
//! library provider), exit codes, error lines, help, and `inspect`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use testkit::stand_in::{verify_hs256, Mode, StandIn, StandInConfig, SUBJECT};

const BIN: &str = env!("CARGO_BIN_EXE_tinker-auth");

/// A fresh, private directory standing in for `$XDG_CACHE_HOME` (and `$HOME`).
struct Home(PathBuf);

impl Home {
    fn new() -> Home {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "cli-home-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test home");
        Home(dir)
    }

    fn cache_dir(&self) -> PathBuf {
        self.0.join("tinker-auth")
    }

    /// Every file in the cache directory (temporary files included).
    fn all_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.cache_dir())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The cache entries (`<32 hex>.json`, one per base URL and credential);
    /// the directory's `hmac.key` and the entries' lock files left out.
    fn cache_files(&self) -> Vec<PathBuf> {
        self.all_files()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect()
    }

    fn only_cache_file(&self) -> PathBuf {
        let files = self.cache_files();
        assert_eq!(files.len(), 1, "{files:?}");
        files.into_iter().next().unwrap_or_default()
    }

    /// `tinker-auth ARGS` with a clean environment plus `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("TINKER_API_KEY")
            .env_remove("TINKER_CREDENTIAL_CMD")
            .env_remove("TINKER_BASE_URL")
            .env("XDG_CACHE_HOME", &self.0)
            .env("HOME", &self.0)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run tinker-auth");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("wait for tinker-auth")
    }

    /// `tinker-auth token ARGS` for `server`'s key; asserts success, returns the JWT.
    fn token(&self, server: &StandIn, args: &[&str]) -> String {
        let url = server.url();
        let mut all = vec!["token", "--base-url", &url];
        all.extend_from_slice(args);
        let out = self.run(&all, &[("TINKER_API_KEY", &server.api_key())], None);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(
            stdout.ends_with('\n') && stdout.lines().count() == 1,
            "{stdout:?}"
        );
        let jwt = stdout.trim().to_owned();
        let claims = verify_hs256(&jwt, &server.secret()).expect("a JWT signed by the server");
        assert_eq!(claims["sub"], SUBJECT);
        jwt
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A server minting `secs`-second tokens. The default `--min-runway` is 60 s,
/// so a cached token is reused by default only when `secs` is well above 60.
fn server_with_lifetime(secs: u64) -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(secs),
        ..StandInConfig::default()
    })
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn the_cache_is_reused_and_honours_min_runway() {
    let server = server_with_lifetime(30);
    let home = Home::new();
    let first = home.token(&server, &["--min-runway", "5"]);
    assert_eq!(server.exchanges(), 1);
    // 30 s tokens, 5 s asked: the cached one serves, without an exchange.
    assert_eq!(home.token(&server, &["--min-runway", "5"]), first);
    assert_eq!(home.token(&server, &["--min-runway=5"]), first);
    assert_eq!(server.exchanges(), 1);
    // 60 s asked of a 30 s token: fetch, and cache the new one. (The library
    // adopts a cached token only outside its on-demand window, which is capped
    // at a fifth of the lifetime, 6 s here: the CLI itself must refuse one
    // with less than --min-runway left.)
    let second = home.token(&server, &["--min-runway", "60"]);
    assert_ne!(second, first);
    assert_eq!(server.exchanges(), 2);
    assert_eq!(home.token(&server, &["--min-runway", "5"]), second);
    assert_eq!(server.exchanges(), 2);
    // --no-cache neither reads nor writes it.
    let before = fs::read(home.only_cache_file()).expect("read the cache");
    let third = home.token(&server, &["--no-cache"]);
    assert_ne!(third, second);
    assert_eq!(server.exchanges(), 3);
    assert_eq!(
        fs::read(home.only_cache_file()).expect("read the cache"),
        before
    );
}

#[test]
fn the_cache_files_are_private_and_hold_no_credential() {
    let server = server_with_lifetime(30);
    let home = Home::new();
    let jwt = home.token(&server, &[]);
    let file = home.only_cache_file();
    let content = fs::read_to_string(&file).expect("read the cache");
    let entry: serde_json::Value = serde_json::from_str(&content).expect("the entry is JSON");
    assert_eq!(entry["version"], 2, "{content}");
    assert_eq!(entry["jwt"], jwt.as_str());
    assert!(!content.contains(&server.api_key()), "{content}");
    // The library's layout: the directory's key, the entry and its lock file,
    // no temporary file left behind; names are keyed hashes that say nothing.
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(stem.len(), 32, "{stem}");
    assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()), "{stem}");
    let names: Vec<String> = home
        .all_files()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    let mut expected = vec![
        format!("{stem}.json"),
        format!("{stem}.lock"),
        "hmac.key".to_owned(),
    ];
    expected.sort();
    assert_eq!(names, expected);
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&home.cache_dir().join("hmac.key")), 0o600);
        assert_eq!(mode(&home.cache_dir()), 0o700);
    }
}

#[test]
fn a_corrupt_cache_file_is_ignored_and_rewritten() {
    let server = server_with_lifetime(120);
    let home = Home::new();
    home.token(&server, &[]);
    let file = home.only_cache_file();
    for garbage in [
        "{\"version\":2,\"jwt\":",
        "not json at all",
        "{\"version\":2}",
        "",
    ] {
        fs::write(&file, garbage).expect("corrupt the cache");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let before = server.exchanges();
        let jwt = home.token(&server, &[]);
        assert_eq!(server.exchanges(), before + 1, "after {garbage:?}");
        assert_eq!(home.only_cache_file(), file);
        let content: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&file).expect("read")).expect("JSON again");
        assert_eq!(content["jwt"], jwt.as_str());
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600);
    }
    // And the rewritten file serves again.
    let before = server.exchanges();
    home.token(&server, &[]);
    assert_eq!(server.exchanges(), before);
}

#[test]
fn a_credential_commands_cache_entry_follows_the_credential_it_prints() {
    let server = server_with_lifetime(120);
    let home = Home::new();
    let url = server.url();
    let cmd = format!("printf '%s\\n' '{}'", server.api_key());
    let out = home.run(
        &["token", "--base-url", &url],
        &[("TINKER_CREDENTIAL_CMD", &cmd)],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(verify_hs256(text(&out.stdout).trim(), &server.secret()).is_some());
    // The same credential given as a key is the same entry.
    home.token(&server, &[]);
    assert_eq!(home.cache_files().len(), 1);
    assert_eq!(server.exchanges(), 1);
    // TINKER_BASE_URL works as well as the flag, and hits the same entry.
    let out = home.run(
        &["token"],
        &[("TINKER_CREDENTIAL_CMD", &cmd), ("TINKER_BASE_URL", &url)],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(server.exchanges(), 1);
}

#[test]
fn a_rotated_credential_behind_the_same_command_never_gets_the_old_jwt() {
    let server = server_with_lifetime(120);
    let home = Home::new();
    let url = server.url();
    let args = ["token", "--base-url", url.as_str()];
    let cmd = ("TINKER_CREDENTIAL_CMD", "printenv ROTATING_KEY");
    let key = server.api_key();
    let out = home.run(&args, &[cmd, ("ROTATING_KEY", &key)], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(server.exchanges(), 1);
    // The key behind the command changes (another account, or a revoked
    // key): the cached JWT belongs to the old one and must not be served.
    let rotated = "tml-rotated-to-another-account";
    let out = home.run(&args, &[cmd, ("ROTATING_KEY", rotated)], None);
    assert_eq!(
        server.exchanges(),
        2,
        "served from the cache of the old credential"
    );
    let e = assert_fails(&out, 3, rotated);
    assert!(e.contains("credential rejected (401)"), "{e}");
}

/// Asserts the exit code and a single stderr line free of `secret`.
fn assert_fails(out: &Output, code: i32, secret: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tinker-auth: "), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
    stderr
}

#[test]
fn exit_codes_and_one_line_errors() {
    let server = server_with_lifetime(30);
    let home = Home::new();
    let url = server.url();
    let key = server.api_key();
    // 2: usage.
    assert_fails(&home.run(&[], &[], None), 2, &key);
    assert_fails(
        &home.run(&["token", "--bogus"], &[("TINKER_API_KEY", &key)], None),
        2,
        &key,
    );
    // No --base-url: TINKER_BASE_URL, here an unusable one (unset, the
    // library's default, the real service, is used: see `zero_config`).
    let e = assert_fails(
        &home.run(
            &["token"],
            &[("TINKER_API_KEY", &key), ("TINKER_BASE_URL", "not a url")],
            None,
        ),
        2,
        &key,
    );
    assert!(e.contains("base url"), "{e}");
    let e = assert_fails(
        &home.run(&["token", "--base-url", &url], &[], None),
        2,
        &key,
    );
    assert!(e.contains("TINKER_API_KEY"), "{e}");
    // 3: the credential is rejected by the server.
    let wrong = "tml-wrong-but-well-formed-key";
    let out = home.run(
        &["token", "--base-url", &url],
        &[("TINKER_API_KEY", wrong)],
        None,
    );
    let e = assert_fails(&out, 3, wrong);
    assert!(e.contains("credential rejected (401)"), "{e}");
    // 2 again: a malformed key is a bad argument, as in C (INVALID_ARGUMENT).
    let bad = "sk-not-a-tinker-key";
    let out = home.run(
        &["token", "--base-url", &url],
        &[("TINKER_API_KEY", bad)],
        None,
    );
    assert_fails(&out, 2, bad);
    // 4: the server fails or cannot be reached.
    server.set_mode(Mode::Status500);
    let out = home.run(
        &["token", "--base-url", &url],
        &[("TINKER_API_KEY", &key)],
        None,
    );
    let e = assert_fails(&out, 4, &key);
    assert!(e.contains("500"), "{e}");
    server.set_mode(Mode::Healthy);
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let out = home.run(
        &["token", "--base-url", &dead],
        &[("TINKER_API_KEY", &key)],
        None,
    );
    assert_fails(&out, 4, &key);
    // Nothing was cached by failures.
    assert!(home.cache_files().is_empty(), "{:?}", home.cache_files());
}

#[test]
fn help_on_each_command() {
    let home = Home::new();
    for args in [
        &["--help"][..],
        &["help"],
        &["token", "--help"],
        &["inspect", "--help"],
        &["help", "token"],
    ] {
        let out = home.run(args, &[], None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
    let token_help = text(&home.run(&["token", "--help"], &[], None).stdout);
    for flag in ["--base-url", "--min-runway", "--no-cache", "0600"] {
        assert!(token_help.contains(flag), "{flag}");
    }
}

#[test]
fn inspect_reads_the_argument_or_stdin() {
    let server = server_with_lifetime(30);
    let home = Home::new();
    let jwt = server.mint(Duration::from_secs(120));
    for (args, stdin) in [
        (vec!["inspect", jwt.as_str()], None),
        (vec!["inspect"], Some(format!("{jwt}\n"))),
        (vec!["inspect", "-"], Some(jwt.clone())),
    ] {
        let out = home.run(&args, &[], stdin.as_deref());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report = text(&out.stdout);
        assert!(report.contains("NOT VERIFIED"), "{report}");
        assert!(report.contains(SUBJECT), "{report}");
        assert!(report.contains("\"jti\""), "{report}");
        assert!(report.contains("expires: "), "{report}");
        assert!(
            report.contains(" left (by this machine's clock)"),
            "{report}"
        );
        assert!(!report.contains(&jwt), "the report repeats the token");
    }
    let out = home.run(&["inspect"], &[], Some(&server.mint_expired()));
    assert!(
        text(&out.stdout).contains("expired"),
        "{}",
        text(&out.stdout)
    );
    assert_fails(
        &home.run(&["inspect", "not-a-jwt"], &[], None),
        2,
        "not-a-jwt",
    );
}

#[test]
fn a_failing_credential_commands_stderr_is_passed_through_not_quoted() {
    let home = Home::new();
    let secret = "tml-traced-by-set-x-0451";
    let cmd = format!("set -x; KEY={secret}; exit 7");
    let out = home.run(
        &[
            "token",
            "--base-url",
            "http://127.0.0.1:1",
            "--credential-cmd",
            &cmd,
        ],
        &[],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "tinker-auth: credential command: exited with status 7"
    );
    // The command's own stderr reached ours, as git passes a helper's through.
    assert!(stderr.lines().count() > 1, "{stderr}");
}

#[test]
fn a_plain_http_loopback_exchange_ignores_the_proxy_variables() {
    let server = server_with_lifetime(30);
    let home = Home::new();
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    proxy.set_nonblocking(true).expect("non-blocking");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("address"));
    let url = server.url();
    let key = server.api_key();
    let out = home.run(
        &["token", "--no-cache", "--timeout", "3", "--base-url", &url],
        &[
            ("TINKER_API_KEY", &key),
            ("ALL_PROXY", &proxy_url),
            ("HTTP_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("NO_PROXY", ""),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    // Nobody connected to the proxy (a connection would wait in its backlog).
    assert!(proxy.accept().is_err(), "the CLI connected to the proxy");
}

#[cfg(unix)]
#[test]
fn a_non_utf8_argument_is_a_usage_error_not_a_panic() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let home = Home::new();
    for args in [
        vec![OsString::from_vec(b"tok\xffen".to_vec())],
        vec![
            OsString::from("token"),
            OsString::from("--base-url"),
            OsString::from_vec(b"http://127.0.0.1:1/\xfe".to_vec()),
        ],
        vec![OsString::from("inspect"), OsString::from_vec(vec![0x80])],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("XDG_CACHE_HOME", &home.0)
            .env("HOME", &home.0)
            .stdin(Stdio::null())
            .output()
            .expect("run tinker-auth");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    }
}

#[test]
fn zero_config_only_the_key_and_the_base_url_in_the_environment() {
    let server = server_with_lifetime(120);
    let home = Home::new();
    let url = server.url();
    let out = home.run(
        &["token"],
        &[
            ("TINKER_API_KEY", &server.api_key()),
            ("TINKER_BASE_URL", &url),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(verify_hs256(text(&out.stdout).trim(), &server.secret()).is_some());
    assert_eq!(server.exchanges(), 1);
    // The help names the default base URL, used when neither is given.
    let help = home.run(&["token", "--help"], &[], None);
    assert!(text(&help.stdout).contains(tinker_auth::DEFAULT_BASE_URL));
}

/// `tinker-auth token` whose cache directory the library refuses: exit 0, the
/// JWT alone on stdout, one warning line on stderr, nothing shared.
#[cfg(unix)]
fn assert_refused_with_a_warning(home: &Home, server: &StandIn, why: &str) {
    let url = server.url();
    let key = server.api_key();
    for round in 1..=2 {
        let out = home.run(
            &["token", "--base-url", &url],
            &[("TINKER_API_KEY", &key)],
            None,
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
        assert!(verify_hs256(stdout.trim(), &server.secret()).is_some());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("tinker-auth: warning: ") && stderr.contains(why),
            "{stderr}"
        );
        assert!(stderr.contains("using a private token"), "{stderr}");
        assert!(!stderr.contains(&key), "{stderr}");
        // A private token each time: no sharing through a refused directory.
        assert_eq!(server.exchanges(), round);
    }
}

#[cfg(unix)]
#[test]
fn a_refused_cache_directory_warns_and_still_prints_the_token() {
    use std::os::unix::fs::PermissionsExt;
    // A symlink to a private directory.
    let server = server_with_lifetime(120);
    let home = Home::new();
    let elsewhere = home.0.join("elsewhere");
    fs::create_dir(&elsewhere).expect("mkdir");
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::symlink(&elsewhere, home.cache_dir()).expect("symlink");
    assert_refused_with_a_warning(&home, &server, "symlink");
    assert!(
        fs::read_dir(&elsewhere).expect("read").next().is_none(),
        "written through the symlink"
    );
    // A group-writable directory.
    let server = server_with_lifetime(120);
    let home = Home::new();
    fs::create_dir(home.cache_dir()).expect("mkdir");
    fs::set_permissions(home.cache_dir(), fs::Permissions::from_mode(0o770)).expect("chmod");
    assert_refused_with_a_warning(&home, &server, "writable");
    assert!(home.all_files().is_empty(), "{:?}", home.all_files());
}

#[test]
fn a_library_provider_and_the_cli_share_one_token() {
    let server = server_with_lifetime(600);
    let home = Home::new();
    // A long-running program on the host, sharing the CLI's directory.
    let provider = tinker_auth::JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .shared_cache_dir(home.cache_dir())
        .background_refresh(false)
        .build()
        .expect("build the provider");
    assert_eq!(server.exchanges(), 1);
    let held = provider.token().expect("the provider's token");
    // A shell script on the same host: the same token, no exchange.
    assert_eq!(home.token(&server, &[]), held.as_str());
    assert_eq!(server.exchanges(), 1, "the CLI exchanged again");
    assert_eq!(home.cache_files().len(), 1);
    // And the other way round: what the CLI fetched, a provider adopts.
    let other = server_with_lifetime(600);
    let jwt = home.token(&other, &[]);
    assert_eq!(other.exchanges(), 1);
    let provider = tinker_auth::JwtAuthProvider::builder(other.url())
        .api_key(other.api_key())
        .shared_cache_dir(home.cache_dir())
        .background_refresh(false)
        .build()
        .expect("build the provider");
    assert_eq!(provider.token().expect("token").as_str(), jwt);
    assert_eq!(other.exchanges(), 1, "the provider exchanged again");
    assert_eq!(provider.stats().shared_adopted, 1);
}

/// An environment value that is not UTF-8 is an error naming the variable,
/// not "unset": a mangled TINKER_API_KEY is not "no credential", and a
/// mangled TINKER_BASE_URL must not send the credential to the default URL.
#[test]
fn a_non_utf8_environment_value_is_an_error_not_unset() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let server = server_with_lifetime(30);
    let home = Home::new();
    let mangled = OsStr::from_bytes(b"tml-\xff\xfe-key");
    let run = |envs: &[(&str, &OsStr)]| {
        Command::new(BIN)
            .args(["token"])
            .env_remove("TINKER_API_KEY")
            .env_remove("TINKER_CREDENTIAL_CMD")
            .env_remove("TINKER_BASE_URL")
            .env("XDG_CACHE_HOME", &home.0)
            .env("HOME", &home.0)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run tinker-auth")
    };
    let url = server.url();
    let key = server.api_key();
    let out = run(&[
        ("TINKER_BASE_URL", OsStr::new(&url)),
        ("TINKER_API_KEY", mangled),
    ]);
    let e = assert_fails(&out, 2, "-key");
    assert!(e.contains("TINKER_API_KEY"), "{e}");
    assert!(!e.contains("no credential"), "{e}");

    let out = run(&[
        (
            "TINKER_BASE_URL",
            OsStr::from_bytes(b"http://127.0.0.1:\xff"),
        ),
        ("TINKER_API_KEY", OsStr::new(&key)),
    ]);
    let e = assert_fails(&out, 2, &key);
    assert!(e.contains("TINKER_BASE_URL"), "{e}");
    assert_eq!(server.exchanges(), 0);
}

#[test]
fn token_format_json_gives_the_expiry_as_inspect_reads_it() {
    let server = server_with_lifetime(900);
    let home = Home::new();
    let url = server.url();
    let key = server.api_key();
    let run = |extra: &[&str]| {
        let mut args = vec!["token", "--base-url", url.as_str()];
        args.extend_from_slice(extra);
        home.run(&args, &[("TINKER_API_KEY", &key)], None)
    };
    let out = run(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.ends_with('\n') && line.lines().count() == 1,
        "{line:?}"
    );
    assert!(line.starts_with("{\"token\": \"eyJ"), "{line:?}");
    let json: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    let fields = json.as_object().expect("an object");
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["expires_at", "expires_in", "token"]);
    let jwt = json["token"].as_str().expect("token is a string");
    let claims = verify_hs256(jwt, &server.secret()).expect("a JWT signed by the server");
    // The lifetime is 900 s; the bound below it leaves two minutes for a
    // loaded machine between the exchange and the print.
    let left = json["expires_in"].as_u64().expect("whole seconds");
    assert!((780..=900).contains(&left), "{left}");
    let at = json["expires_at"].as_str().expect("RFC 3339 text");
    assert_eq!(at.len(), 20, "{at}");
    assert!(at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
    // The same expiry `inspect` shows: the JWT's `exp`.
    let report = text(&home.run(&["inspect", "-"], &[], Some(jwt)).stdout);
    let exp = claims["exp"].as_f64().expect("exp");
    assert!(
        report.contains(&format!("expires: {at} (exp {exp})")),
        "{report}"
    );
    // The cached token comes back the same way, with no more time left.
    let again: serde_json::Value =
        serde_json::from_slice(&run(&["--format=json"]).stdout).expect("JSON again");
    assert_eq!(again["token"], json["token"]);
    assert_eq!(again["expires_at"], json["expires_at"]);
    assert!(again["expires_in"].as_u64().expect("seconds") <= left);
    // Plain text stays the default; a bad format and a failure keep their
    // exit codes and print nothing on stdout.
    assert_eq!(text(&run(&["--format", "text"]).stdout).trim(), jwt);
    assert_fails(&run(&["--format", "yaml"]), 2, &key);
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let out = home.run(
        &[
            "token",
            "--format",
            "json",
            "--no-cache",
            "--timeout",
            "2",
            "--base-url",
            &dead,
        ],
        &[("TINKER_API_KEY", &key)],
        None,
    );
    assert_fails(&out, 4, &key);
    let help = text(&home.run(&["token", "--help"], &[], None).stdout);
    assert!(
        help.contains("--format text|json") && help.contains("expires_in"),
        "{help}"
    );
}

#[cfg(unix)]
#[test]
fn a_non_utf8_cloudflare_variable_is_a_configuration_error() {
    use std::os::unix::ffi::OsStringExt;
    let server = server_with_lifetime(30);
    let home = Home::new();
    for var in [
        "CLOUDFLARE_ACCESS_CLIENT_ID",
        "CLOUDFLARE_ACCESS_CLIENT_SECRET",
    ] {
        let out = Command::new(BIN)
            .args(["token", "--no-cache", "--base-url", &server.url()])
            .env_remove("TINKER_CREDENTIAL_CMD")
            .env("TINKER_API_KEY", server.api_key())
            .env("XDG_CACHE_HOME", &home.0)
            .env("HOME", &home.0)
            .env(var, std::ffi::OsString::from_vec(b"cf-value-\xff".to_vec()))
            .stdin(Stdio::null())
            .output()
            .expect("run tinker-auth");
        let stderr = assert_fails(&out, 2, "cf-value");
        assert!(
            stderr.contains(var) && stderr.contains("not valid UTF-8"),
            "{stderr}"
        );
    }
    assert_eq!(server.exchanges_ok(), 0);
}

/// A cache entry's lock held by another process (this test, through its own
/// open file descriptions; the holder might be stopped or wedged): the
/// command waits for it a bounded time, then exchanges on its own, and
/// writes the cache only once the lock is free again.
#[cfg(unix)]
#[test]
fn a_held_cache_lock_costs_a_bounded_wait_not_the_token() {
    let server = server_with_lifetime(30);
    let home = Home::new();
    let first = home.token(&server, &["--min-runway", "5"]);
    let before = fs::read(home.only_cache_file()).expect("read the cache");
    let held: Vec<fs::File> = fs::read_dir(home.cache_dir())
        .expect("list the cache")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .map(|p| {
            let f = fs::File::open(p).expect("open the lock file");
            f.lock().expect("lock it");
            f
        })
        .collect();
    assert_eq!(held.len(), 1);
    // 60 s asked of a 30 s token: an exchange is needed, behind the lock.
    let start = std::time::Instant::now();
    let second = home.token(&server, &["--min-runway", "60"]);
    println!("a token behind a held cache lock in {:?}", start.elapsed());
    assert_ne!(second, first);
    assert_eq!(server.exchanges(), 2);
    assert_eq!(
        fs::read(home.only_cache_file()).expect("read the cache"),
        before,
        "not written without the lock"
    );
    drop(held);
    let third = home.token(&server, &["--min-runway", "60"]);
    assert_eq!(server.exchanges(), 3);
    assert_eq!(
        home.token(&server, &["--min-runway", "5"]),
        third,
        "shared again"
    );
    assert_eq!(server.exchanges(), 3);
}

#[test]
fn a_token_that_is_not_three_base64url_segments_is_never_printed_or_cached() {
    let good = testkit::jwt_expiring_in(600.0, 600.0);
    for hostile in [
        format!("{good}\r\nX-Injected: 1"),
        format!("\u{1b}]0;pwned\u{7}{good}"),
        format!("{good}\0"),
    ] {
        let server = testkit::TokenServer::new({
            let hostile = hostile.clone();
            move |_| (200, testkit::body_for(&hostile))
        });
        let home = Home::new();
        let out = home.run(
            &["token", "--base-url", &server.url()],
            &[("TINKER_API_KEY", testkit::KEY)],
            None,
        );
        let stderr = assert_fails(&out, 4, testkit::KEY);
        assert!(stderr.contains("not three base64url segments"), "{stderr}");
        assert!(!stderr.contains(&good), "{stderr}");
        assert!(
            !stderr.trim_end().chars().any(char::is_control),
            "{stderr:?}"
        );
        assert!(home.cache_files().is_empty(), "{:?}", home.cache_files());
    }
}

#[test]
fn a_servers_detail_is_printed_as_one_clean_line_without_the_key() {
    let server = testkit::TokenServer::new(|_| {
        let detail = format!("key {}\nrejected\u{1b}]0;pwned\u{7}", testkit::KEY);
        let body = serde_json::json!({ "detail": detail }).to_string();
        (500, body.into_bytes())
    });
    let home = Home::new();
    let out = home.run(
        &["token", "--base-url", &server.url()],
        &[("TINKER_API_KEY", testkit::KEY)],
        None,
    );
    let stderr = assert_fails(&out, 4, testkit::KEY);
    assert!(stderr.contains("<redacted> rejected"), "{stderr}");
    assert!(
        !stderr.trim_end().chars().any(char::is_control),
        "{stderr:?}"
    );
}
