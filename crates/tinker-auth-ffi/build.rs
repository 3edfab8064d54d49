//! Gives the shared library the soname C programs record when they link it:
//! `libtinker_auth.so.MAJOR`, the name `install.sh` installs it under (with
//! `libtinker_auth.so` and the full version as symlinks). Only on ELF
//! targets, whose linkers take `-soname`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    );
    if elf {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtinker_auth.so.{major}");
    }
}
